"""``pozytywka summary``: what the pipeline produced, in a dozen lines (end of ``make repro``).

The playlists published (genre, track count, genres skipped and why), baseline vs
CatBoost on the offline metrics with their confidence intervals across weeks, and
the A/B result (lift, CI, p-value, decision). It reads only the files of DESIGN §6;
a missing one is named with the stage that writes it, so the user knows what to run.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .. import paths
from ..errors import PozytywkaError
from ..markdown import fmt_p
from ..recs.report import summary_lines as recs_summary_lines
from ..report.compare import OFFLINE_METRICS, ab_decision, metric_ci, number, skipped_genres

# file -> stage that writes it (dvc.yaml)
SOURCES = {
    paths.PLAYLISTS_JSON: "playlists",
    paths.OFFLINE_METRICS: "evaluate",
    paths.AB_METRICS: "ab_test",
    paths.RECS_METRICS: "recs_evaluate",
}


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
    width = max((len(p["genre"]) for p in lists), default=0)
    for p in lists:
        lines.append(f"  {p['genre']:<{width}}  {len(p.get('tracks', [])):>3} tracks")
    for genre, reason in skipped_genres(doc):
        lines.append(f"  skipped: {genre}" + (f" ({reason})" if reason else ""))
    return lines


def offline_lines(offline: Mapping[str, Any] | None) -> list[str]:
    """Baseline vs CatBoost, each metric with its 95% CI across the backtest weeks."""
    if offline is None:
        return ["Offline backtest", _missing(paths.OFFLINE_METRICS)]
    k = offline.get("k", "k")
    lines = [
        f"Offline backtest over {offline.get('weeks_evaluated', '?')} weeks "
        "(mean [95% CI across weeks])",
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
        lines.append(text)
    return lines


def ab_lines(ab: Mapping[str, Any] | None, alpha: float = 0.05) -> list[str]:
    """The A/B result in one sentence plus the per-arm numbers behind it."""
    if ab is None:
        return ["A/B simulation", _missing(paths.AB_METRICS)]
    metric = ab.get("metric", "play_through_rate")
    lift, lo, hi = number(ab, "lift"), number(ab, "ci_low"), number(ab, "ci_high")
    alpha = number(ab, "alpha") or alpha
    lines = [f"A/B simulation (A: baseline playlists, B: CatBoost), metric {metric}"]
    if lift is not None and lo is not None and hi is not None:
        lines.append(
            f"  lift {lift:+.2%} (95% CI {lo:+.2%} to {hi:+.2%}), "
            f"p = {fmt_p(number(ab, 'p_value'))}, SRM p = {fmt_p(number(ab, 'srm_p_value'))}"
        )
    for arm in ("A", "B"):
        a = (ab.get("arms") or {}).get(arm) or {}
        users = number(a, "users")
        parts = [f"{int(users)} users" if users is not None else "? users"]
        for key in ("play_through_rate", "likes_per_user", "skips_per_user"):
            value = number(a, key)
            if value is not None:
                parts.append(f"{key.replace('_', ' ')} {value:.3f}")
        lines.append(f"  arm {arm}: " + ", ".join(parts))
    lines.append(f"  decision: {ab_decision(ab, alpha)}")
    return lines


def render_summary(
    playlists: Mapping[str, Any] | None,
    offline: Mapping[str, Any] | None,
    ab: Mapping[str, Any] | None,
    recs: Mapping[str, Any] | None = None,
    with_recs: bool = False,
) -> str:
    blocks = [playlists_lines(playlists), offline_lines(offline), ab_lines(ab)]
    if recs is not None or with_recs:
        blocks.append(recs_summary_lines(recs))
    return "\n\n".join("\n".join(b) for b in blocks) + "\n"


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
        raise PozytywkaError("no pipeline results yet: run `make repro` (or `dvc repro`) first")
    print(
        render_summary(
            docs[paths.PLAYLISTS_JSON],
            docs[paths.OFFLINE_METRICS],
            docs[paths.AB_METRICS],
            docs[paths.RECS_METRICS],
            with_recs=True,
        ),
        end="",
    )
    return 0
