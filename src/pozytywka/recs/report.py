"""Markdown of the recommendation results: each model against the strongest baseline (pure
functions).

Reads the ``metrics/recs.json`` mapping (:func:`pozytywka.recs.evaluate.summarise`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..markdown import table
from .models import FALLBACK

ROWS = ("recall_at_10", "recall_at_20", "ndcg_at_10", "ndcg_at_20", "map_at_20")
#: The baselines and the collaborative models, in the order tables show them.
RECOMMENDERS = (
    "popularity_all",
    "popularity",
    "popularity_genres",
    "own_most_played",
    "itemknn",
    "ease",
    "als",
    "svd",
)
ORDER = (*RECOMMENDERS, "catboost", "oracle")
DIFF = "ndcg_at_20_minus_baseline"


def _cell(entry: Mapping[str, Any], key: str) -> str:
    value = entry.get(key)
    if not isinstance(value, (int, float)):
        return "—"
    lo, hi = entry.get(f"{key}_ci_low"), entry.get(f"{key}_ci_high")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
        return f"{value:.4f} [{lo:.4f}, {hi:.4f}]"
    return f"{value:.4f}"


def _diff(entry: Mapping[str, Any]) -> str:
    value = entry.get(DIFF)
    if not isinstance(value, (int, float)):
        return ""
    lo, hi = entry.get(f"{DIFF}_ci_low"), entry.get(f"{DIFF}_ci_high")
    if isinstance(lo, (int, float)) and isinstance(hi, (int, float)):
        return f"{value:+.4f} [{lo:+.4f}, {hi:+.4f}]"
    return f"{value:+.4f}"


def results_table(metrics: Mapping[str, Any]) -> str:
    """One row per model: recall/NDCG/MAP (mean [95% CI across weeks]), coverage@20,
    validation NDCG@20, NDCG@20 minus the strongest baseline's (mean [95% CI of the
    per-week differences]), weeks better than it."""
    base = metrics.get("strongest_baseline")
    weeks = metrics.get("weeks_evaluated", "?")
    rows = []
    for name in ORDER:
        entry = metrics.get(name)
        if not isinstance(entry, Mapping):
            continue
        better = entry.get("weeks_better_than_baseline")
        cov = entry.get("coverage_at_20")
        valid = entry.get("valid_ndcg_at_20")
        label = f"`{name}`" + (" (strongest baseline)" if name == base else "")
        rows.append(
            [label]
            + [_cell(entry, key) for key in ROWS]
            + [
                f"{cov:.3f}" if isinstance(cov, (int, float)) else "—",
                f"{valid:.4f}"
                if isinstance(valid, (int, float))
                else ("" if name == "oracle" else "—"),
                _diff(entry),
                f"{better}/{weeks}" if isinstance(better, int) else "",
            ]
        )
    headers = ["model", "recall@10", "recall@20", "NDCG@10", "NDCG@20", "MAP@20", "coverage@20"]
    headers += ["valid. NDCG@20", "NDCG@20 − strongest baseline", "weeks better"]
    return table(headers, rows, "l" + "r" * (len(headers) - 1))


def rerank_lines(metrics: Mapping[str, Any]) -> list[str]:
    """One line per week the re-ranker could not be fitted (the candidate order stood)."""
    notes = metrics.get("rerank_not_fitted") or []
    if not notes:
        return []
    where = {"valid": "validation week", "evaluated": "evaluated week", "next": "published week"}
    lines = ["The re-ranker (`catboost`) was not fitted, so the candidate order stands, for:"]
    lines += [f"- {where.get(n['split'], n['split'])} {n['week_start']}: {n['why']}" for n in notes]
    return lines


def diagnostics_line(diag: Mapping[str, Any]) -> str:
    """What bounds every model, in one sentence (the ``diagnostics`` of the metrics)."""
    keys = (
        "relevant_per_listener",
        "relevant_unheard_share",
        "relevant_new_track_share",
        "candidate_recall",
    )
    if not all(isinstance(diag.get(k), (int, float)) for k in keys):
        return ""
    return (
        f"What bounds every model: an evaluated listener fully played "
        f"{diag['relevant_per_listener']:.1f} tracks in the week, "
        f"{diag['relevant_unheard_share']:.0%} of them new to that listener and "
        f"{diag['relevant_new_track_share']:.0%} new to everyone (no model that learns from "
        f"the weeks before can rank those); the re-ranker's candidates held "
        f"{diag['candidate_recall']:.0%} of them."
    )


def vs_popularity_markdown(metrics: Mapping[str, Any]) -> str:
    """The report file ``reports/recs/vs_popularity.md``: both exclude_seen settings."""
    ex = metrics.get("exclude_seen")
    other_key = f"exclude_seen_{str(not ex).lower()}"
    other = {
        **(metrics.get(other_key) or {}),
        "weeks_evaluated": metrics.get("weeks_evaluated"),
        "strongest_baseline": metrics.get("strongest_baseline"),
    }
    base = metrics.get("strongest_baseline")
    left_out = metrics.get("weeks_left_out") or []
    lines = [
        "# Personal recommendations: each model against the strongest baseline",
        "",
        f"{metrics.get('weeks_evaluated', '?')} evaluated weeks, about "
        f"{metrics.get('listeners_per_week', '?')} listeners each (every listener with a full "
        "play in the week), ranked against the whole catalogue; mean [95% CI across weeks]. "
        f"The strongest baseline, `{base}`, is the baseline (plain popularity, last weeks' "
        "chart, popularity in favourite genres, the listener's own most-played tracks) with "
        "the best NDCG@20 on the validation weeks (`valid. NDCG@20`); every model is "
        "compared with it on the evaluated weeks. Candidate model of the re-ranker "
        f"(`catboost`): `{metrics.get('candidate_model')}`; best model on the evaluated "
        f"weeks: `{metrics.get('best_model')}`.",
        "",
        f"**{metrics.get('verdict', '')}**",
        "",
        f"{metrics.get('arm_b_reason', '')}",
    ]
    if left_out:
        lines += [
            "",
            f"Weeks left out (no listener fully played a track): {', '.join(left_out)}.",
        ]
    why = diagnostics_line(metrics.get("diagnostics") or {})
    if why:
        lines += ["", why]
    notes = rerank_lines(metrics)
    if notes:
        lines += ["", *notes]
    lines += [
        "",
        f"## Already-played tracks allowed: {'no' if ex else 'yes'} (`recs.exclude_seen: "
        f"{str(ex).lower()}`, published)",
        "",
        results_table(metrics),
        "",
        f"## Already-played tracks allowed: {'yes' if ex else 'no'} "
        f"(`recs.exclude_seen: {str(not ex).lower()}`)",
        "",
        results_table(other),
        "",
        "Tuned hyper-params (validation weeks before the evaluated ones): "
        + "; ".join(f"`{m}` {h}" for m, h in (metrics.get("hyper") or {}).items()),
    ]
    return "\n".join(lines) + "\n"


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "—"


def pr_section(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> str:
    """The PR report's recommendations section: per model NDCG@20 / recall@20, base → PR."""
    head = "### Personal recommendations"
    if before is None and after is None:
        return f"{head}\n\n`metrics/recs.json` is missing on both sides."
    b, a = before or {}, after or {}
    rows = []
    for name in ORDER:
        if not isinstance(a.get(name), Mapping) and not isinstance(b.get(name), Mapping):
            continue
        cells = [f"`{name}`"]
        for key in ("ndcg_at_20", "recall_at_20", "map_at_20", "coverage_at_20"):
            vb, va = (b.get(name) or {}).get(key), (a.get(name) or {}).get(key)
            if isinstance(vb, (int, float)) and isinstance(va, (int, float)):
                cells.append(f"{vb:.4f} → {va:.4f} ({va - vb:+.4f})")
            else:
                cells.append(f"{_fmt(vb)} → {_fmt(va)}")
        rows.append(cells)
    lines = [
        f"{head} ({a.get('weeks_evaluated', '?')} weeks, best model `{a.get('best_model', '?')}`)",
        "",
        "Each cell: base → this PR (change); mean over the evaluated weeks.",
        "",
        table(["model", "NDCG@20", "recall@20", "MAP@20", "coverage@20"], rows, "lrrrr"),
    ]
    if before is None:
        lines += ["", "_metrics/recs.json: not present at base._"]
    return "\n".join(lines)


def summary_lines(metrics: Mapping[str, Any] | None) -> list[str]:
    """``pozytywka summary``: NDCG@20 and recall@20 per model, best vs the baseline."""
    if metrics is None:
        return [
            "Personal recommendations",
            "  metrics/recs.json is missing: run `dvc repro recs_evaluate` (or `make repro`)",
        ]
    ex = metrics.get("exclude_seen")
    seen = (
        f"already-played tracks: {'left out' if ex else 'allowed'} "
        f"(recs.exclude_seen: {str(bool(ex)).lower()})"
        if isinstance(ex, bool)
        else "already-played tracks: not recorded"
    )
    lines = [
        f"Personal recommendations over {metrics.get('weeks_evaluated', '?')} weeks, 20 tracks "
        "per listener (mean [95% CI across weeks])",
        f"  {seen}",
        f"  {'model':<18} {'NDCG@20':<26} recall@20",
    ]
    for name in ORDER:
        entry = metrics.get(name)
        if isinstance(entry, Mapping):
            lines.append(
                f"  {name:<18} {_cell(entry, 'ndcg_at_20'):<26} {_cell(entry, 'recall_at_20')}"
            )
    base = metrics.get("strongest_baseline")
    if isinstance(base, str):
        lines.append(f"  strongest baseline (chosen on the validation weeks): {base}")
    if metrics.get("verdict"):
        lines.append(f"  {metrics['verdict']}")
    if metrics.get("arm_b_model"):
        lines.append(
            f"  live experiment: arm A {metrics.get('arm_a_model', FALLBACK)}, "
            f"arm B {metrics['arm_b_model']}"
        )
    if metrics.get("arm_b_reason"):
        lines.append(f"  {metrics['arm_b_reason']}")
    lines += [
        "  against the tracks each listener played to the end that week: NDCG@20 = how high "
        "they rank",
        "  (0 to 1, higher is better), recall@20 = the share of them in the 20; oracle: "
        "the best recall possible",
    ]
    return lines
