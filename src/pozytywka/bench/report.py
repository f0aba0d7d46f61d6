"""Turn benchmark measurements into the scaling fit, a plain table and a plot.

Pure functions over the ``bench.json`` structure (see :mod:`.runner`), so the
tests can check them on hand-made numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

#: Pipeline stages in the order they run (``generate`` is setup, not pipeline cost).
PIPELINE_STAGES = ("ingest", "features", "baseline", "train", "playlists")

#: Issue 6 targets, checked at the largest scale.
TARGET_RATIO = 3.0
TARGET_PEAK_MB = 4096.0
TARGET_NOOP_SECONDS = 5.0


def scaling_exponent(events: Sequence[float], seconds: Sequence[float]) -> float | None:
    """Slope of log(seconds) against log(events): 1.0 is linear, 2.0 quadratic.

    ``None`` with fewer than two distinct scales (no slope to fit). Fixed costs
    (interpreter start-up, imports) pull the slope below 1 at small scales, so
    read it from scales of 1M events and up.
    """
    pairs = [(e, s) for e, s in zip(events, seconds, strict=True) if e > 0 and s > 0]
    if len({e for e, _ in pairs}) < 2:
        return None
    x = np.log([e for e, _ in pairs])
    y = np.log([s for _, s in pairs])
    slope, _ = np.polyfit(x, y, 1)
    return round(float(slope), 3)


def summarise_scale(scale: dict[str, Any]) -> dict[str, Any]:
    """Derived numbers of one scale: events/s per stage, ingest+features vs the reference."""
    events = scale["events"]
    for m in [*scale["stages"].values(), scale["reference"]]:
        m["events"] = events
        m["events_per_second"] = round(events / m["seconds"], 1) if m["seconds"] > 0 else None
    stages = scale["stages"]
    i_f = stages["ingest"]["seconds"] + stages["features"]["seconds"]
    scale["ingest_features_seconds"] = round(i_f, 3)
    scale["ingest_features_peak_rss_mb"] = max(
        stages["ingest"]["peak_rss_mb"], stages["features"]["peak_rss_mb"]
    )
    scale["pipeline_seconds"] = round(
        sum(stages[s]["seconds"] for s in PIPELINE_STAGES if s in stages), 3
    )
    ref = scale["reference"]["seconds"]
    scale["ratio_to_reference"] = round(i_f / ref, 3) if ref > 0 else None
    # The same ratio in CPU seconds: robust when other jobs share the cores.
    i_f_cpu = stages["ingest"]["cpu_seconds"] + stages["features"]["cpu_seconds"]
    ref_cpu = scale["reference"]["cpu_seconds"]
    scale["ratio_to_reference_cpu"] = round(i_f_cpu / ref_cpu, 3) if ref_cpu > 0 else None
    return scale


def scaling(scales: list[dict[str, Any]]) -> dict[str, Any]:
    """Scaling exponents per stage, for ingest+features and for the reference."""
    events = [s["events"] for s in scales]
    names = [n for n in ("generate", *PIPELINE_STAGES) if all(n in s["stages"] for s in scales)]
    out: dict[str, Any] = {
        "method": "least-squares slope of log(wall seconds) vs log(events)",
        "ingest_features": scaling_exponent(events, [s["ingest_features_seconds"] for s in scales]),
        "reference": scaling_exponent(events, [s["reference"]["seconds"] for s in scales]),
        "pipeline": scaling_exponent(events, [s["pipeline_seconds"] for s in scales]),
        "stages": {
            n: scaling_exponent(events, [s["stages"][n]["seconds"] for s in scales]) for n in names
        },
    }
    return out


def targets(scales: list[dict[str, Any]], noop: dict[str, Any] | None) -> dict[str, Any]:
    """Issue 6 targets at the largest scale measured (and the no-op repro, if measured)."""
    top = max(scales, key=lambda s: s["events"])
    ratio = top["ratio_to_reference"]
    peak = top["ingest_features_peak_rss_mb"]
    out: dict[str, Any] = {
        "at_events": top["events"],
        "ingest_features_ratio": ratio,
        "ingest_features_ratio_cpu": top["ratio_to_reference_cpu"],
        "ingest_features_ratio_target": TARGET_RATIO,
        "ingest_features_within_target": ratio is not None and ratio <= TARGET_RATIO,
        "ingest_features_peak_rss_mb": peak,
        "peak_rss_target_mb": TARGET_PEAK_MB,
        "peak_rss_within_target": peak < TARGET_PEAK_MB,
    }
    if noop is not None:
        out["noop_repro_seconds"] = noop["noop_repro"]["seconds"]
        out["noop_repro_target_seconds"] = TARGET_NOOP_SECONDS
        out["noop_repro_within_target"] = noop["noop_repro"]["seconds"] < TARGET_NOOP_SECONDS
    return out


def _fmt(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if abs(value) >= 1e5:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def table_rows(bench: dict[str, Any]) -> list[list[str]]:
    """One row per scale and stage (and the reference), as strings."""
    rows = []
    for scale in bench["scales"]:
        named = [*scale["stages"].items(), ("reference (1 query)", scale["reference"])]
        for name, m in named:
            rows.append(
                [
                    f"{scale['events']:,}",
                    name,
                    _fmt(m["seconds"], 2),
                    _fmt(m["events_per_second"], 0),
                    _fmt(m["peak_rss_mb"], 0),
                    _fmt(m.get("cpu_seconds"), 1),
                ]
            )
    return rows


HEADER = ["events", "stage", "seconds", "events/s", "peak MB", "cpu s"]


def format_table(bench: dict[str, Any], markdown: bool = False) -> str:
    """The table as aligned plain text (for the terminal) or Markdown (for reports)."""
    rows = table_rows(bench)
    lines = []
    if markdown:
        lines.append("| " + " | ".join(HEADER) + " |")
        lines.append("|" + "|".join(["---"] * 2 + ["---:"] * (len(HEADER) - 2)) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(len(HEADER))]

        def line(r: list[str]) -> str:
            cells = [r[0].rjust(widths[0]), r[1].ljust(widths[1])]
            cells += [c.rjust(w) for c, w in zip(r[2:], widths[2:], strict=True)]
            return "  ".join(cells)

        lines.append(line(HEADER))
        lines.append("  ".join("-" * w for w in widths))
        lines += [line(r) for r in rows]
    lines.append("")
    for scale in bench["scales"]:
        lines.append(
            f"{scale['events']:,} events: ingest+features {scale['ingest_features_seconds']:.1f} s "
            f"= {_fmt(scale['ratio_to_reference'], 2)}x the reference query "
            f"({_fmt(scale['ratio_to_reference_cpu'], 2)}x in CPU time) "
            f"({scale['reference']['seconds']:.1f} s); "
            f"peak {scale['ingest_features_peak_rss_mb']:.0f} MB; "
            f"reference agreement {_fmt(scale.get('reference_agreement'), 4)}"
        )
    exp = bench["scaling"]
    lines.append(
        "scaling exponent (log time vs log events): "
        f"ingest+features {_fmt(exp['ingest_features'], 2)}, "
        f"reference {_fmt(exp['reference'], 2)}, pipeline {_fmt(exp['pipeline'], 2)}"
    )
    if bench.get("noop_repro"):
        lines.append(
            f"dvc repro with nothing to do: {bench['noop_repro']['noop_repro']['seconds']:.2f} s"
        )
    m = bench.get("machine", {})
    lines.append(
        f"measured {m.get('date_utc', 'on an unrecorded date')} on {m.get('cpus')} CPUs, "
        f"{m.get('memory_gb')} GiB RAM, load average at start "
        f"{', '.join(str(x) for x in m.get('load_average_at_start', []))} "
        f"({m.get('platform')}, Python {m.get('python')})"
    )
    return "\n".join(lines)


def plot(bench: dict[str, Any]) -> Any:
    """Figure: wall seconds and peak RSS against events, per stage (log-log)."""
    from ..plotting import new_figure

    fig, (ax_t, ax_m) = new_figure(11.0, 4.2, ncols=2)
    scales = sorted(bench["scales"], key=lambda s: s["events"])
    events = [s["events"] for s in scales]
    names = [n for n in PIPELINE_STAGES if all(n in s["stages"] for s in scales)]
    for name in names:
        ax_t.plot(events, [s["stages"][name]["seconds"] for s in scales], marker="o", label=name)
        ax_m.plot(
            events, [s["stages"][name]["peak_rss_mb"] for s in scales], marker="o", label=name
        )
    ax_t.plot(
        events,
        [s["reference"]["seconds"] for s in scales],
        "k--",
        marker="s",
        label="reference query",
    )
    ax_m.plot(
        events,
        [s["reference"]["peak_rss_mb"] for s in scales],
        "k--",
        marker="s",
        label="reference query",
    )
    ax_m.axhline(TARGET_PEAK_MB, color="tab:red", lw=0.8, ls=":", label="4 GB target")
    for ax, label in ((ax_t, "wall seconds"), (ax_m, "peak RSS (MB)")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("session events")
        ax.set_ylabel(label)
    ax_t.set_title("time per stage")
    ax_m.set_title("peak memory per stage")
    ax_m.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig
