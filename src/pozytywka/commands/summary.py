"""``pozytywka summary``: what the pipeline produced, in about a screen (end of ``make repro``).

The data's complete weeks and gaps, the playlists published (genre, track count;
skipped genres summarised: counts by reason, the first few by name), baseline vs
CatBoost on the offline metrics with their confidence intervals across weeks (none
under 2 weeks) and the weeks left out and why, and the A/B result (lift, or the
difference when the lift is undefined; CI, p-value, decision and why; a replay is
headed as a replay estimate); then the skips and recommendations blocks. Every
number says what it measures and in what unit (a line of meaning under each table),
and the summary ends with where to look next: the reports, plots and docs that exist.
It reads only the files of DESIGN §6; a missing one is named with the stage that
writes it, so the user knows what to run.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import PozytywkaError
from ..gaps import describe
from ..markdown import fmt_p
from ..recs.report import summary_lines as recs_summary_lines
from ..report.compare import (
    OFFLINE_METRICS,
    SRM_ALPHA,
    ab_decision,
    ab_heading,
    metric_ci,
    number,
    skipped_genres,
    skipped_summary,
)
from ..skips.report import summary_lines as skips_summary_lines

# file -> stage that writes it (dvc.yaml)
SOURCES = {
    paths.DATA_QUALITY: "ingest",
    paths.PLAYLISTS_JSON: "playlists",
    paths.OFFLINE_METRICS: "evaluate",
    paths.AB_METRICS: "ab_test",
    paths.SKIPS_METRICS: "skips_evaluate",
    paths.CACHE_METRICS: "skips_cache",
    paths.RECS_METRICS: "recs_evaluate",
}


REPLAY_NOTE = "users never saw these playlists; arms scored by what users played anyway"
# the A/B metric's words (``ab.json``'s ``metric`` is an identifier)
AB_METRIC_WORDS = {"play_through_rate": "play-through rate (full plays / plays)"}
OFFLINE_MEANING = (
    "  each genre's {k} picks scored against its real next week; all in [0, 1], higher is better;",
    "  capture ratio = the picks' next-week popularity / that of the best {k} possible picks",
)

# "Where to look next": (what, files), each file listed only when it exists
LOOK_NEXT = (
    (
        "playlists",
        (
            paths.PLAYLISTS_MD,
            paths.EVALUATE_REPORTS / "offline_by_week.png",
            Path("docs/playlists.md"),
        ),
    ),
    (
        "A/B test",
        (
            paths.AB_SUMMARY,
            paths.AB_REPORTS / "arms.png",
            paths.AB_REPORTS / "sequential.png",
            Path("docs/experiments.md"),
        ),
    ),
    ("live A/B", (Path("reports/ab_live/summary.md"),)),  # `pozytywka traffic`
    (
        "training",
        (
            paths.TRAIN_REPORTS / "learning_curve.png",
            paths.TRAIN_REPORTS / "feature_importance.png",
        ),
    ),
    (
        "skips",
        (
            paths.SKIPS_REPORTS / "by_week.png",
            paths.SKIPS_REPORTS / "calibration.png",
            Path("docs/skips.md"),
        ),
    ),
    (
        "cache",
        (paths.CACHE_REPORTS / "cost_vs_threshold.png", paths.CACHE_REPORTS / "server.png"),
    ),
    (
        "recs",
        (
            paths.RECS_REPORTS / "vs_popularity.md",
            paths.RECS_REPORTS / "ndcg_at_20_by_week.png",
            Path("docs/recs.md"),
        ),
    ),
    ("hindsight", (paths.HINDSIGHT_REPORTS / "history.png",)),
    ("data", (paths.DATA_QUALITY_REPORTS / "summary.md",)),
    ("every term", (Path("docs/definitions.md"),)),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "summary", help="print the published playlists, offline metrics and A/B result"
    )
    p.set_defaults(func=run)


def _missing(path: Path) -> str:
    stage = SOURCES[path]
    return f"  {path} is missing: run `dvc repro {stage}` (or `make repro`)"


def _value_ci(section: Mapping[str, Any] | None, key: str) -> str:
    value = number(section, key)
    if value is None:
        return "—"
    ci = metric_ci(section, key)
    return f"{value:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")


def playlists_lines(doc: Mapping[str, Any] | None) -> list[str]:
    """The published playlists: one line per genre, then the genres that were skipped."""
    if doc is None:
        return ["Playlists", _missing(paths.PLAYLISTS_JSON)]
    lists = doc.get("playlists") or []
    lines = [
        f"Playlists for the week of {doc.get('week_start', '?')} "
        f"(model {doc.get('model', '?')}): {len(lists)} published"
    ]
    if doc.get("model_reason"):
        lines.append(f"  published {doc.get('model', '?')}: {doc['model_reason']}")
    width = max((len(p["genre"]) for p in lists), default=0)
    for p in lists:
        lines.append(f"  {p['genre']:<{width}}  {len(p.get('tracks', [])):>3} tracks")
    skipped = skipped_genres(doc)
    if skipped:
        lines.append("  " + skipped_summary(skipped, where=str(paths.PLAYLISTS_SKIPPED)))
    return lines


def data_lines(quality: Mapping[str, Any] | None) -> list[str]:
    """The data's time window and its gaps (weeks with no or almost no events)."""
    if quality is None:
        return []
    window = quality.get("window") or {}
    line = f"Data: {window.get('complete_weeks', '?')} complete weeks"
    if window.get("first_complete_week"):
        line += f" ({window['first_complete_week']} .. {window.get('last_complete_week')})"
    gaps = quality.get("gaps")
    if not gaps:
        return [line]
    text = describe(gaps)
    if gaps.get("weeks"):
        text += " (left out of training and the backtest with the weeks they touch)"
    return [line, f"  {text}"]


def signal_verdict(ci: tuple[float, float] | None) -> str:
    """``no signal`` when the 95% interval of a model-minus-baseline difference holds 0,
    ``baseline better`` when it is below 0, ``""`` when above (or no interval)."""
    if not ci:
        return ""
    if ci[0] <= 0.0 <= ci[1]:
        return "no signal (the interval holds 0)"
    return "baseline better" if ci[1] < 0 else ""


def offline_lines(offline: Mapping[str, Any] | None) -> list[str]:
    """Baseline vs CatBoost, each metric with its 95% CI across the backtest weeks."""
    if offline is None:
        return ["Offline backtest", _missing(paths.OFFLINE_METRICS)]
    k = offline.get("k", "k")
    n_weeks = offline.get("weeks_evaluated", "?")
    interval = str(offline.get("interval") or "")
    lines = [
        f"Offline backtest over {n_weeks} week{'s' if n_weeks != 1 else ''} "
        + (
            f"(mean; {interval})"
            if interval.startswith("too few")
            else "(mean [95% CI across weeks])"
        ),
        f"  {'metric':<14}  {'baseline':<26}  CatBoost",
    ]
    for key, label in OFFLINE_METRICS.items():
        base = _value_ci(offline.get("baseline"), key)
        cat = _value_ci(offline.get("catboost"), key)
        lines.append(f"  {label.format(k=k):<14}  {base:<26}  {cat}")
    diff = number(offline, "ndcg_diff")
    if diff is None:
        b, c = (
            number(offline.get("baseline"), "ndcg_at_k"),
            number(offline.get("catboost"), "ndcg_at_k"),
        )
        diff = None if b is None or c is None else c - b
    if diff is not None:
        ci = metric_ci(offline, "ndcg_diff")
        text = f"  CatBoost − baseline NDCG@{k}: {diff:+.4f}"
        if ci:
            text += f" [{ci[0]:+.4f}, {ci[1]:+.4f}]"
        better = offline.get("weeks_catboost_better")
        if isinstance(better, int):
            text += f", better in {better}/{offline.get('weeks_evaluated', '?')} weeks"
        verdict = signal_verdict(ci)
        lines.append(text + (f": {verdict}" if verdict else ""))
    for week in offline.get("left_out_weeks") or []:
        lines.append(f"  left out: week {week.get('week_start')}: {week.get('reason')}")
    lines += [line.format(k=k) for line in OFFLINE_MEANING]
    return lines


def ab_lines(ab: Mapping[str, Any] | None, alpha: float = 0.05) -> list[str]:
    """The A/B result in one sentence plus the per-arm numbers behind it."""
    if ab is None:
        return ["A/B test", _missing(paths.AB_METRICS)]
    metric = ab.get("metric", "play_through_rate")
    lift, lo, hi = number(ab, "lift"), number(ab, "ci_low"), number(ab, "ci_high")
    alpha = number(ab, "alpha") or alpha
    head = ab_heading(ab)
    words = AB_METRIC_WORDS.get(str(metric), str(metric).replace("_", " "))
    lines = [f"{head} (A: baseline playlists, B: CatBoost), metric: {words}"]
    p_srm = f"p = {fmt_p(number(ab, 'p_value'))}, SRM p = {fmt_p(number(ab, 'srm_p_value'))}"
    diff, d_lo, d_hi = number(ab, "abs_diff"), number(ab, "abs_ci_low"), number(ab, "abs_ci_high")
    if lift is not None and lo is not None and hi is not None:
        lines.append(f"  lift (B / A − 1) {lift:+.2%} (95% CI {lo:+.2%} to {hi:+.2%}), {p_srm}")
    elif diff is not None:
        ci = ""
        if d_lo is not None and d_hi is not None:
            ci = f" (95% CI {d_lo:+.4f} to {d_hi:+.4f})"
        note = ab.get("lift_note") or "not estimable"
        lines.append(f"  difference {diff:+.4f}{ci}, relative lift undefined ({note}), {p_srm}")
    for arm in ("A", "B"):
        a = (ab.get("arms") or {}).get(arm) or {}
        users = number(a, "users")
        parts = [f"{int(users)} users" if users is not None else "? users"]
        for key in ("play_through_rate", "likes_per_user", "skips_per_user"):
            value = number(a, key)
            if value is not None:
                parts.append(
                    f"{key.replace('play_through', 'play-through').replace('_', ' ')} {value:.3f}"
                )
        lines.append(f"  arm {arm}: " + ", ".join(parts))
    decision = ab_decision(ab, alpha)
    lines.append(f"  decision: {decision}")
    if decision == "inconclusive" and isinstance(ab.get("reason"), str):
        lines.append(f"  why: {ab['reason']}")
    if ab.get("mode") == "replay":
        lines.append(f"  note: {ab.get('mode_note') or REPLAY_NOTE}")
    lines.append(
        f"  SRM p: the sample-ratio check of the arm sizes (below {SRM_ALPHA:g} the split is "
        "broken and the result void)"
    )
    return lines


def look_next_lines(exists=Path.is_file) -> list[str]:
    """The end of the summary: the reports, plots and docs to open next (those that exist)."""
    lines = []
    for what, files in LOOK_NEXT:
        present = [str(f) for f in files if exists(f)]
        if present:
            lines.append(f"  {what + ':':<12}" + ", ".join(present))
    return ["Where to look next", *lines] if lines else []


def render_summary(
    playlists: Mapping[str, Any] | None,
    offline: Mapping[str, Any] | None,
    ab: Mapping[str, Any] | None,
    quality: Mapping[str, Any] | None = None,
    skips: Mapping[str, Any] | None = None,
    cache: Mapping[str, Any] | None = None,
    recs: Mapping[str, Any] | None = None,
    with_recs: bool = False,
    look_next: bool = False,
) -> str:
    """The summary; the skips block appears once either of its files exists, the recs
    block when its file exists or ``with_recs`` (the command: says when it is missing),
    and with ``look_next`` the files to open next (those in the working directory)."""
    blocks = [data_lines(quality), playlists_lines(playlists), offline_lines(offline), ab_lines(ab)]
    if skips is not None or cache is not None:
        blocks.append(skips_summary_lines(skips, cache))
    if recs is not None or with_recs:
        blocks.append(recs_summary_lines(recs))
    if look_next:
        blocks.append(look_next_lines())
    return "\n\n".join("\n".join(b) for b in blocks if b) + "\n"


def _read(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        stage = SOURCES[path]
        raise PozytywkaError(
            f"{path} is not valid JSON ({exc}): rerun `dvc repro {stage}`"
        ) from exc


def run(args: argparse.Namespace) -> int:
    docs = {path: _read(path) for path in SOURCES}
    if all(doc is None for doc in docs.values()):
        if not paths.DVC_YAML.is_file():  # the console script found no project root
            raise PozytywkaError(
                f"no dvc.yaml in {Path.cwd()} or any folder above it: run `pozytywka summary` "
                "inside the project (the folder holding dvc.yaml), after `make repro`"
            )
        raise PozytywkaError("no pipeline results yet: run `make repro` (or `dvc repro`) first")
    print(
        render_summary(
            docs[paths.PLAYLISTS_JSON],
            docs[paths.OFFLINE_METRICS],
            docs[paths.AB_METRICS],
            docs[paths.DATA_QUALITY],
            docs[paths.SKIPS_METRICS],
            docs[paths.CACHE_METRICS],
            docs[paths.RECS_METRICS],
            with_recs=True,
            look_next=True,
        ),
        end="",
    )
    return 0
