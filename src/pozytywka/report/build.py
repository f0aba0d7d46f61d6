"""The pull-request report: the pipeline's results at a base revision vs the workspace.

:func:`load_snapshot` reads the files of DESIGN §6 through a reader function (git
at the base, the disk for the workspace), so both sides are loaded the same way and
tests can feed dictionaries. :func:`render_report` turns two snapshots, the DVC
diff tables and the plot paths into Markdown; it does no I/O.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from .. import paths
from ..errors import PozytywkaError
from ..markdown import MISSING, details, fmt_delta, fmt_p, fmt_pct, fmt_value, image, table
from ..recs.report import pr_section as recs_pr_section
from ..skips.report import pr_section as skips_pr_section
from .compare import (
    AB_ARM_METRICS,
    OFFLINE_METRICS,
    Change,
    PlaylistDiff,
    Thresholds,
    ab_decision,
    ab_heading,
    margin,
    metric_ci,
    number,
    offline_changes,
    playlist_diff,
)
from .dvcdiff import DvcDiff
from .lockcheck import LockDrift
from .retraining import retraining_sections

WARN = "⚠️"
NOT_AT_BASE = "not present at base"
LONG_TABLE = 15  # rows of a DVC diff table shown without collapsing
#: rows of a DVC diff table kept in the report at all: a GitHub comment holds at most
#: 65,536 characters, and a diff of every per-week/per-model metric can be 300 KB
MAX_TABLE_ROWS = 200

Reader = Callable[[str], bytes | None]


@dataclass(frozen=True)
class Snapshot:
    """The results of one revision; a field is None when its file does not exist there."""

    label: str
    offline: dict[str, Any] | None = None
    ab: dict[str, Any] | None = None
    playlists: dict[str, Any] | None = None
    offline_by_week: pd.DataFrame | None = None
    skips: dict[str, Any] | None = None
    cache: dict[str, Any] | None = None
    recs: dict[str, Any] | None = None

    # weekly retraining (issue 11): hindsight, drift and the dump's row account
    hindsight: dict[str, Any] | None = None
    hindsight_by_playlist: list[dict[str, Any]] = field(default_factory=list)
    drift: dict[str, Any] | None = None
    data_quality: dict[str, Any] | None = None


def _json(reader: Reader, path: str, label: str) -> dict[str, Any] | None:
    raw = reader(path)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PozytywkaError(f"{path} at {label} is not valid JSON: {exc}") from exc


def load_snapshot(reader: Reader, label: str) -> Snapshot:
    """Read the metrics, playlists and per-week offline data of one revision."""
    csv = reader(paths.EVALUATE_REPORTS.joinpath("offline_by_week.csv").as_posix())
    return Snapshot(
        label=label,
        offline=_json(reader, paths.OFFLINE_METRICS.as_posix(), label),
        ab=_json(reader, paths.AB_METRICS.as_posix(), label),
        playlists=_json(reader, paths.PLAYLISTS_JSON.as_posix(), label),
        offline_by_week=None if csv is None else pd.read_csv(io.BytesIO(csv)),
        skips=_json(reader, paths.SKIPS_METRICS.as_posix(), label),
        cache=_json(reader, paths.CACHE_METRICS.as_posix(), label),
        recs=_json(reader, paths.RECS_METRICS.as_posix(), label),
        hindsight=_json(reader, paths.HINDSIGHT_METRICS.as_posix(), label),
        hindsight_by_playlist=_records(
            reader(f"{paths.HINDSIGHT_REPORTS.as_posix()}/by_playlist.csv")
        ),
        drift=_json(reader, paths.DRIFT_METRICS.as_posix(), label),
        data_quality=_json(reader, paths.DATA_QUALITY.as_posix(), label),
    )


def _records(raw: bytes | None) -> list[dict[str, Any]]:
    """Rows of a small CSV as dicts (none when the file is absent or empty)."""
    if not raw or not raw.strip():
        return []
    return pd.read_csv(io.BytesIO(raw)).to_dict("records")


@dataclass(frozen=True)
class ReportInputs:
    """Everything the report shows, gathered by the command before rendering."""

    base: str  # the revision as the user named it, e.g. origin/main
    base_sha: str
    before: Snapshot
    after: Snapshot
    params_diff: DvcDiff | None = None
    metrics_diff: DvcDiff | None = None
    lock: LockDrift | None = None
    problems: Sequence[str] = ()
    thresholds: Thresholds = Thresholds()
    plots: Sequence[tuple[str, str]] = ()  # (title, relative path) before/after plots
    stage_plots: Sequence[tuple[str, str]] = ()  # (title, relative path) this PR's PNGs
    notes: Sequence[str] = field(default_factory=list)


def _arrow(change: Change, digits: int = 4) -> str:
    """``before → after (Δ)``, the cell format of the headline tables."""
    if change.before is None and change.after is None:
        return MISSING
    if change.before is None:
        return f"{fmt_value(change.after, digits)} (new)"
    if change.after is None:
        return f"{fmt_value(change.before, digits)} → {MISSING} (removed)"
    if change.before == change.after:
        return f"{fmt_value(change.after, digits)} (=)"
    mark = f" {WARN}" if change.regression else ""
    return (
        f"{fmt_value(change.before, digits)} → {fmt_value(change.after, digits)} "
        f"({fmt_delta(change.delta, digits)}){mark}"
    )


def _offline_section(before: Snapshot, after: Snapshot, thresholds: Thresholds) -> str:
    if before.offline is None and after.offline is None:
        return "### Offline backtest\n\n`metrics/offline.json` is missing on both sides."
    meta = after.offline or before.offline or {}
    k, weeks = meta.get("k", "k"), meta.get("weeks_evaluated", "?")
    changes = offline_changes(before.offline, after.offline, thresholds)
    rows = []
    for i, key in enumerate(OFFLINE_METRICS):
        base_row, cat_row = changes["baseline"][i], changes["catboost"][i]
        margin_change = Change(key, margin(before.offline, key), margin(after.offline, key))
        ci = metric_ci((after.offline or {}).get("catboost"), key)
        ci_text = f" CI [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else ""
        rows.append(
            [
                OFFLINE_METRICS[key].format(k=k),
                _arrow(base_row),
                _arrow(cat_row) + ci_text,
                _arrow(margin_change),
            ]
        )
    lines = [
        f"### Offline backtest (k={k}, {weeks} weeks)",
        "",
        "Each cell: base → this PR (change). "
        f"{WARN} marks a CatBoost drop of more than {thresholds.offline_drop}.",
        "",
        table(["metric", "baseline", "CatBoost", "CatBoost − baseline"], rows, "lrrr"),
    ]
    if before.offline is None:
        lines += ["", f"_metrics/offline.json: {NOT_AT_BASE}._"]
    return "\n".join(lines)


def _ab_section(before: Snapshot, after: Snapshot, alpha: float) -> str:
    if before.ab is None and after.ab is None:
        return "### A/B test\n\n`metrics/ab.json` is missing on both sides."
    b, a = before.ab or {}, after.ab or {}
    metric = a.get("metric") or b.get("metric") or "play_through_rate"
    rows = []
    for key in AB_ARM_METRICS:
        for arm in ("A", "B"):
            vb = number((b.get("arms") or {}).get(arm), key)
            va = number((a.get("arms") or {}).get(arm), key)
            digits = 0 if key == "users" else 4
            rows.append(
                [f"{key} {arm}", _arm(vb, digits), _arm(va, digits), fmt_delta(_d(vb, va), digits)]
            )
    for key, label in (("lift", f"relative lift in {metric}"), ("mde", "minimum detectable lift")):
        vb, va = number(b, key), number(a, key)
        change = _d(vb, va)
        pp = MISSING if change is None else f"{change * 100:+.2f} pp"
        rows.append([label, fmt_pct(vb), fmt_pct(va), pp])
    rows.append(["95% CI of the lift", _ci(b), _ci(a), ""])
    if "abs_diff" in a or "abs_diff" in b:
        # the difference B - A with Welch's interval: the result when the lift is undefined
        db, da = number(b, "abs_diff"), number(a, "abs_diff")
        rows.append(
            ["difference B − A", fmt_value(db, 4), fmt_value(da, 4), fmt_delta(_d(db, da), 4)]
        )
        rows.append(["95% CI of the difference", _ci(b, "abs_"), _ci(a, "abs_"), ""])
    for key, label in (("p_value", "p-value"), ("srm_p_value", "sample-ratio mismatch p")):
        rows.append([label, fmt_p(number(b, key)), fmt_p(number(a, key)), ""])
    decision_b = ab_decision(before.ab, alpha) if before.ab else NOT_AT_BASE
    decision_a = ab_decision(after.ab, alpha) if after.ab else "missing"
    rows.append(["**decision**", decision_b, f"**{decision_a}**", ""])
    lines = [
        f"### {ab_heading(after.ab or before.ab)} "
        f"(arm A: baseline playlists, arm B: CatBoost; α={alpha})",
        "",
        table(["", "base", "this PR", "change"], rows, "lrrr"),
    ]
    if isinstance(a.get("reason"), str):
        lines += ["", f"_Why: {a['reason']}._"]
    return "\n".join(lines)


def _arm(value: float | None, digits: int) -> str:
    """User counts as integers, rates to ``digits`` places."""
    return fmt_value(int(value) if digits == 0 and value is not None else value, digits)


def _d(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def _ci(ab: Mapping[str, Any], prefix: str = "") -> str:
    """The lift's interval in percent, or (``prefix`` "abs_") the difference's in units."""
    lo, hi = number(ab, f"{prefix}ci_low"), number(ab, f"{prefix}ci_high")
    if lo is None or hi is None:
        return MISSING
    if prefix:
        return f"[{fmt_value(lo, 4)}, {fmt_value(hi, 4)}]"
    return f"[{fmt_pct(lo)}, {fmt_pct(hi)}]"


def _track(t: Mapping[str, Any]) -> str:
    return f"{t.get('name', t['track_id'])} — {t.get('artist', '?')} (`{t['track_id']}`)"


def _playlist_section(diff: PlaylistDiff, before: Snapshot, after: Snapshot) -> str:
    model = (after.playlists or {}).get("model", "?")
    head = "### Published playlists"
    if after.playlists is None:
        return f"{head}\n\n`reports/playlists/playlists.json` is missing in this PR."
    week = f"week {diff.week_after}"
    if diff.week_before and diff.week_before != diff.week_after:
        week = f"week {diff.week_before} → {diff.week_after}"
    lines = [f"{head} ({week}, model `{model}`)", ""]
    reason = (after.playlists or {}).get("model_reason")
    if reason:
        lines += [f"Published `{model}`: {reason}.", ""]
    if before.playlists is None:
        lines.append(f"_playlists.json: {NOT_AT_BASE}; all genres are new._")
        lines.append("")
    if not diff.any_change:
        lines.append("No playlist changed: same genres, same tracks in the same order.")
        return "\n".join(lines)
    summary_rows = []
    for g in diff.appeared:
        summary_rows.append([g.genre, "new genre", f"+{len(g.entered)}", "", g.size_after])
    for g in diff.disappeared:
        summary_rows.append([g.genre, "genre dropped", "", f"−{len(g.left)}", 0])
    for g in diff.changed:
        what = "reordered only" if g.reordered else "changed"
        entered = f"+{len(g.entered)}" if g.entered else ""
        left = f"−{len(g.left)}" if g.left else ""
        summary_rows.append([g.genre, what, entered, left, g.size_after])
    for genre in diff.unchanged:
        summary_rows.append([genre, "unchanged", "", "", ""])
    lines.append(table(["genre", "", "entered", "left", "tracks now"], summary_rows, "llrrr"))
    for g in [*diff.changed, *diff.appeared, *diff.disappeared]:
        if not g.entered and not g.left:
            continue
        rows = [["➕ entered", _track(t)] for t in g.entered]
        rows += [["➖ left", _track(t)] for t in g.left]
        lines += [
            "",
            details(
                f"<b>{g.genre}</b>: {len(g.entered)} entered, {len(g.left)} left",
                table(["", "track — artist"], rows),
            ),
        ]
    return "\n".join(lines)


def _dvc_section(title: str, diff: DvcDiff | None, nothing: str) -> str:
    if diff is None:
        return ""
    if diff.error:
        return f"### {title}\n\n{WARN} `dvc {diff.kind} diff` failed: {diff.error}"
    if diff.empty:
        return f"### {title}\n\n{nothing}"
    lines = diff.markdown.splitlines()
    rows = len(lines) - 2  # header and separator
    table = diff.markdown
    if rows > MAX_TABLE_ROWS:
        table = "\n".join(lines[: MAX_TABLE_ROWS + 2]) + (
            f"\n\n_{rows - MAX_TABLE_ROWS} more rows left out to fit a pull-request comment: "
            f"run `dvc {diff.kind} diff` locally or open the `pr-report` artifact._"
        )
    if rows > LONG_TABLE:  # e.g. every data-quality counter: keep the comment scannable
        return f"### {title}\n\n" + details(f"{rows} changed values", table)
    return f"### {title}\n\n{table}"


def _lock_section(lock: LockDrift | None) -> str:
    if lock is None or lock.clean:
        return ""
    lines = ["### Reproducibility (`dvc.lock`)", ""]
    if lock.stale:
        lines.append(
            f"{WARN} The committed `dvc.lock` is stale: these stages changed without "
            "`dvc repro` being rerun and committed (run `dvc repro`, commit `dvc.lock` "
            "and the metrics):"
        )
        lines += [f"- {s}" for s in lock.stale]
    if lock.outs_changed:
        lines.append(
            f"{WARN} These outputs did not reproduce byte for byte (same code, params and "
            "data, other bytes): the pipeline must be deterministic (docs/reproducibility.md)."
        )
        lines += [f"- `{s}`" for s in lock.outs_changed]
    return "\n".join(lines)


def render_report(inputs: ReportInputs) -> str:
    """The whole report as Markdown (GitHub flavour, as CML posts it)."""
    short = inputs.base_sha[:8]
    parts = [f"## Pozytywka pipeline: `{inputs.base}` ({short}) → this PR", ""]
    if inputs.problems:
        parts.append(f"> {WARN} **{len(inputs.problems)} problem(s) flagged**")
        parts += [f"> - {p}" for p in inputs.problems]
    else:
        checks = [f"CatBoost offline drop > {inputs.thresholds.offline_drop}", "A/B decision"]
        if inputs.lock is not None:
            checks.append("committed dvc.lock")
        parts.append(f"> ✅ Nothing flagged ({', '.join(checks)}).")
    parts += [f"> {n}" for n in inputs.notes]
    alpha = number((inputs.after.ab or {}), "alpha") or inputs.thresholds.alpha
    after, before = inputs.after, inputs.before
    # shown when this PR changed them: a retraining (new week, previous playlists scored)
    moved = after.hindsight != before.hindsight or after.drift != before.drift
    sections = retraining_sections(
        after.hindsight if moved else None,
        after.hindsight_by_playlist,
        after.drift if moved else None,
        before.data_quality,
        after.data_quality,
    ) + [
        _offline_section(inputs.before, inputs.after, inputs.thresholds),
        _ab_section(inputs.before, inputs.after, alpha),
        _playlist_section(
            playlist_diff(inputs.before.playlists, inputs.after.playlists),
            inputs.before,
            inputs.after,
        ),
        skips_pr_section(
            inputs.before.skips, inputs.after.skips, inputs.before.cache, inputs.after.cache
        ),
        recs_pr_section(inputs.before.recs, inputs.after.recs),
    ]
    if inputs.plots:
        sections.append(
            "### Plots (base dashed/faded, this PR solid)\n\n"
            + "\n\n".join(image(title, path) for title, path in inputs.plots)
        )
    if inputs.stage_plots:
        sections.append(
            details(
                "Stage plots of this PR",
                "\n\n".join(f"**{t}**\n\n{image(t, p)}" for t, p in inputs.stage_plots),
            )
        )
    sections += [
        _dvc_section(
            f"Params diff (`dvc params diff {inputs.base}`)",
            inputs.params_diff,
            "No params changed.",
        ),
        _dvc_section(
            f"Metrics diff (`dvc metrics diff {inputs.base}`)",
            inputs.metrics_diff,
            "No metric changed.",
        ),
        _lock_section(inputs.lock),
    ]
    parts += ["", "\n\n".join(s for s in sections if s), ""]
    return "\n".join(parts)
