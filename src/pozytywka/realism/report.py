"""The realism report: the synthetic dump next to every real dump, statistic by statistic.

:func:`build_report` turns the statistics of each dump into one JSON-ready dict
(rounded, sorted, no NaN); :func:`markdown` and :func:`figure` render it. Pure:
no file is read or written here (``pozytywka realism`` does that).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..markdown import MISSING, fmt_value, table
from .stats import STATISTICS

DIGITS = 4

#: Why a statistic can stay outside the real range (printed only for one that is
#: outside; the numbers behind it: docs/realism.md, "Measured alternatives").
SCALE_REASON = (
    "scale: it follows plays per catalogue track and week (synthetic {syn}, real {lo}..{hi}); "
    "the real dumps look like near-uniform listening at under ~0.9 plays per track-week, "
    "which needs a flat appeal and few plays per catalogue track"
)
REASONS: dict[str, str] = {
    "one_off_play_share": SCALE_REASON,
    "catalogue_coverage": SCALE_REASON,
    "listeners_per_track": SCALE_REASON,
    "chart_overlap": (
        "by design: a synthetic track's appeal persists from week to week (hype curve, "
        "genre and artist momentum: the signal the playlist model learns), while the real "
        "charts are nearly new every week (Jaccard <= 0.17 even with 1,000 listeners); "
        "raising the weekly track noise from 0.15 to 0.5 sd only brings it to 0.34, "
        "and scale adds to it (plays per track-week: synthetic {syn}, real {lo}..{hi})"
    ),
}
DEFAULT_REASON = "outside after calibration; see docs/realism.md"


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def value_range(values: list[float | None]) -> tuple[float | None, float | None]:
    """(min, max) of the known values; (None, None) when there is none."""
    known = [v for v in values if v is not None]
    return (min(known), max(known)) if known else (None, None)


def inside(value: float | None, lo: float | None, hi: float | None) -> bool | None:
    """Whether ``value`` is in ``[lo, hi]`` (both rounded as reported); None when unknown."""
    if value is None or lo is None or hi is None:
        return None
    return _round(lo) <= _round(value) <= _round(hi)


def build_report(
    synthetic: Mapping[str, Any],
    real: Mapping[str, Mapping[str, Any]],
    skipped: Mapping[str, str],
    before: Mapping[str, float | None] | None = None,
) -> dict[str, Any]:
    """The report as a JSON-ready dict.

    ``synthetic`` and each ``real[name]``: ``{"values": {statistic: float|None},
    "info": {...}}`` (``info``: weeks, listeners, tracks, genres, events,
    plays_per_track_week, first_week). ``skipped``: dump name -> why it was not
    read. ``before``: the synthetic values before calibration (None: unknown).
    Statistics keep the order of :data:`STATISTICS`; dumps are sorted by name.
    """
    names = sorted(real)
    rows = []
    for key, (label, definition) in STATISTICS.items():
        reals = {n: _round(real[n]["values"].get(key)) for n in names}
        lo, hi = value_range(list(reals.values()))
        value = _round(synthetic["values"].get(key))
        ok = inside(value, lo, hi)
        reason = None
        if ok is False:
            ppt = [real[n]["info"].get("plays_per_track_week") for n in names]
            plo, phi = value_range(ppt)
            reason = REASONS.get(key, DEFAULT_REASON).format(
                syn=fmt_value(synthetic["info"].get("plays_per_track_week"), 2),
                lo=fmt_value(plo, 2),
                hi=fmt_value(phi, 2),
            )
        rows.append(
            {
                "statistic": key,
                "label": label,
                "definition": definition,
                "synthetic_before": _round((before or {}).get(key)),
                "synthetic": value,
                "real_min": lo,
                "real_max": hi,
                "real": reals,
                "inside": ok,
                "why_outside": reason,
            }
        )
    return {
        "statistics": rows,
        "synthetic": {"info": dict(synthetic["info"])},
        "real": {n: {"info": dict(real[n]["info"])} for n in names},
        "skipped": {n: skipped[n] for n in sorted(skipped)},
        "inside": sum(1 for r in rows if r["inside"]),
        "outside": sum(1 for r in rows if r["inside"] is False),
    }


def _cell(value: float | None) -> str:
    return MISSING if value is None else fmt_value(value, DIGITS)


def markdown(report: Mapping[str, Any]) -> str:
    """``reports/realism/realism.md``: the table, why each outside statistic is outside,
    the dumps read and the ones skipped."""
    names = list(report["real"])
    headers = ["statistic", "synthetic (before calibration)", "synthetic (after)"]
    headers += ["min..max over real dumps", *names, "inside?"]
    rows = []
    for r in report["statistics"]:
        ok = {True: "yes", False: "**no**", None: MISSING}[r["inside"]]
        rows.append(
            [
                r["label"],
                _cell(r["synthetic_before"]),
                _cell(r["synthetic"]),
                f"{_cell(r['real_min'])}..{_cell(r['real_max'])}",
                *(_cell(r["real"][n]) for n in names),
                ok,
            ]
        )
    n = len(report["statistics"])
    lines = [
        "# Realism: the synthetic world next to the real dumps",
        "",
        f"{report['inside']} of {n} statistics of the synthetic dump fall inside the range "
        f"of the {len(names)} real dumps read. Definitions: docs/realism.md; "
        "made by `pozytywka realism` (`make realism`).",
        "",
        table(headers, rows, align="lrrr" + "r" * len(names) + "c"),
        "",
    ]
    outside = [r for r in report["statistics"] if r["inside"] is False]
    if outside:
        lines += ["Outside the real range, and why:", ""]
        lines += [f"- **{r['label']}**: {r['why_outside']}." for r in outside]
        lines.append("")
    info_rows = []
    for name, entry in [("synthetic", report["synthetic"]), *report["real"].items()]:
        i = entry["info"]
        info_rows.append(
            [
                name,
                i.get("first_week"),
                i.get("weeks"),
                i.get("listeners"),
                i.get("tracks"),
                i.get("genres"),
                i.get("events"),
                fmt_value(i.get("plays_per_track_week"), 3),
            ]
        )
    lines += [
        "Dumps (complete weeks only, after the project's ingest):",
        "",
        table(
            [
                "dump",
                "first week",
                "weeks",
                "listeners",
                "tracks",
                "genres",
                "events",
                "plays per track-week",
            ],
            info_rows,
            align="llrrrrrr",
        ),
        "",
    ]
    if report["skipped"]:
        lines += ["Not read:", ""]
        lines += [f"- `{name}`: {why}" for name, why in report["skipped"].items()]
        lines.append("")
    lines += ["![realism](realism.png)", ""]
    return "\n".join(lines)


def figure(report: Mapping[str, Any]):
    """One row per statistic on a normalised axis: the real range as a bar, each real dump
    as a tick, the synthetic world as a marker (hollow: before calibration)."""
    from ..plotting import new_figure

    rows = report["statistics"]
    fig, ax = new_figure(width=9.0, height=0.5 * len(rows) + 1.6)
    for y, r in enumerate(rows):
        values = [*r["real"].values(), r["synthetic"], r["synthetic_before"]]
        lo, hi = value_range(values)
        if lo is None:
            continue
        span = (hi - lo) or 1.0

        def norm(v: float, lo: float = lo, span: float = span) -> float:
            return (v - lo) / span

        if r["real_min"] is not None:
            left = norm(r["real_min"])
            width = max(norm(r["real_max"]) - left, 0.004)
            ax.barh(y, width, left=left, height=0.5, color="#cfcfcf", label="real range")
            reals = [norm(v) for v in r["real"].values() if v is not None]
            ax.plot(reals, [y] * len(reals), "|", color="#555555", ms=12, label="a real dump")
        if r["synthetic_before"] is not None:
            ax.plot(
                norm(r["synthetic_before"]),
                y,
                "o",
                mfc="none",
                mec="#d62728",
                ms=8,
                label="synthetic, before calibration",
            )
        if r["synthetic"] is not None:
            ax.plot(norm(r["synthetic"]), y, "o", color="#d62728", ms=7, label="synthetic, after")
        ax.text(
            1.04,
            y,
            f"{_cell(r['real_min'])}..{_cell(r['real_max'])}  syn {_cell(r['synthetic'])}",
            va="center",
            fontsize=8,
            transform=ax.get_yaxis_transform(),
        )
    ax.set_yticks(range(len(rows)), [r["label"] for r in rows])
    ax.invert_yaxis()
    ax.set_xlim(-0.05, 1.05)
    ax.set_xlabel("position between the smallest and the largest value shown (per statistic)")
    ax.set_title("Synthetic world vs the real dumps")
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles, strict=True))
    ax.legend(
        unique.values(),
        unique.keys(),
        loc="upper center",
        bbox_to_anchor=(0.5, -0.12 - 1.0 / len(rows)),
        ncol=4,
        fontsize=8,
    )
    fig.tight_layout()
    return fig
