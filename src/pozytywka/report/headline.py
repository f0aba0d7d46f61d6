"""The headline figures: what a reviewer decides on, one small file per product.

DVC shows every key of every file declared as ``metrics`` as a column of
``dvc exp show`` and a row of ``dvc metrics diff``. The detail (every model,
every interval, every week) stays in the JSON files beside these, which are
plain outputs (``metrics/offline.json``, ``metrics/ab.json``, ...: the contracts
in docs/contracts.md); the headline files in ``metrics/headline/`` hold
:data:`MAX_COLUMNS` figures at most, under names unique across the files, so DVC
prints them without a file prefix and ``dvc exp show --only-changed`` fits a
160-column terminal.

Each function takes the parsed detail files and returns a flat dict of numbers
(rounded to :data:`DIGITS` decimals) and short strings. "Baseline" is always the
*strongest* baseline of the evaluated weeks (docs/definitions.md), picked here
by the same measure the product is judged on.
"""

from __future__ import annotations

from typing import Any

#: The bound on headline columns (tests/test_headline.py checks it).
MAX_COLUMNS = 30
#: Decimals of a headline figure: enough to decide on (an NDCG of 0.9494, a lift of
#: 0.0124); the detail files keep 6, and nothing is computed from the headline.
DIGITS = 4

SKIP_RULES = ("genre_rule", "listener_rate", "previous_outcome")
RECS_BASELINES = ("popularity_all", "popularity", "popularity_genres", "own_most_played")


def _num(value: Any) -> float | int | None:
    if value is None or isinstance(value, bool):
        return None
    return round(value, DIGITS) if isinstance(value, float) else value


def playlists(offline: dict, published: dict, sets: dict | None = None) -> dict[str, Any]:
    """From ``metrics/offline.json`` (the backtest), ``metrics/playlists.json`` and
    ``metrics/playlist_sets.json`` (the week's playlists as a set: CatBoost's and the
    baseline's set reach as a share of the exclusive oracle's, CatBoost's per-playlist
    capture@10; ``None`` where a figure is undefined)."""
    sets = sets or {}
    return {
        "ndcg@10": _num(offline["catboost"]["ndcg_at_k"]),
        "baseline_ndcg@10": _num(offline["baseline"]["ndcg_at_k"]),
        "diff": _num(offline["ndcg_diff"]),
        "diff_lo": _num(offline["ndcg_diff_ci_low"]),
        "diff_hi": _num(offline["ndcg_diff_ci_high"]),
        "ndcg_weeks_better": f"{offline['weeks_catboost_better']}/{offline['weeks_evaluated']}",
        "published": published["model"],
        "reach_share": _num((sets.get("catboost") or {}).get("reach_share")),
        "baseline_reach_share": _num((sets.get("baseline") or {}).get("reach_share")),
        "capture@10": _num((sets.get("catboost") or {}).get("capture_at_10")),
    }


def ab(result: dict) -> dict[str, Any]:
    """From ``metrics/ab.json``: the primary metric's relative lift (B/A - 1) with its 95%
    interval (``_lo`` / ``_hi``; the p-value is in the detail: the interval says as much),
    the sample-ratio-mismatch check and the decision."""
    return {
        "lift": _num(result["lift"]),
        "lift_lo": _num(result["ci_low"]),
        "lift_hi": _num(result["ci_high"]),
        "srm_p_value": _num(result["srm_p_value"]),
        "decision": result["decision"],
    }


def skips(result: dict) -> dict[str, Any]:
    """From ``metrics/skips.json``: CatBoost's ROC AUC against the strongest rule's (the
    file's ``strongest_baseline``; else the rule of highest ROC AUC, a null one last)."""
    rule = result.get("strongest_baseline") or max(
        SKIP_RULES,
        key=lambda name: -1.0 if result[name]["roc_auc"] is None else result[name]["roc_auc"],
    )
    better = result.get("catboost_better_weeks", {}).get(rule)
    return {
        "skip_roc_auc": _num(result["catboost"]["roc_auc"]),
        "skip_rule_roc_auc": _num(result[rule]["roc_auc"]),
        "skip_rule": rule,
        "skip_weeks_better": f"{better}/{result['weeks_evaluated']}"
        if better is not None
        else None,
    }


def cache(result: dict) -> dict[str, Any]:
    """From ``metrics/cache.json``: the share of the oracle's saving over always streaming."""
    rule = max(SKIP_RULES, key=lambda name: result[name]["share_of_oracle_saving"])
    return {
        "cache_saving_share": _num(result["catboost"]["share_of_oracle_saving"]),
        "cache_rule_saving_share": _num(result[rule]["share_of_oracle_saving"]),
    }


def recs(result: dict) -> dict[str, Any]:
    """From ``metrics/recs.json``: arm B's model against the strongest baseline (NDCG@20).

    The strongest baseline is the one ``recs_evaluate`` chose on the validation weeks
    (``strongest_baseline``); older files without it: the best of the baselines present.
    """
    arm_b = result["arm_b_model"]
    base = result.get("strongest_baseline") or max(
        (name for name in RECS_BASELINES if name in result),
        key=lambda name: result[name]["ndcg_at_20"],
    )
    return {
        "recs_ndcg@20": _num(result[arm_b]["ndcg_at_20"]),
        "recs_baseline_ndcg@20": _num(result[base]["ndcg_at_20"]),
        "recs_baseline": base,
        "recs_arm_b": arm_b,
    }


def data(quality: dict) -> dict[str, Any]:
    """From ``metrics/data_quality.json``: the weeks and events the products learn from."""
    return {
        "complete_weeks": quality["window"]["complete_weeks"],
        "events_kept": quality["sessions"]["rows_kept"],
    }


def headline(details: dict[str, dict]) -> dict[str, dict[str, Any]]:
    """``{product: figures}`` from the parsed detail files, keyed ``offline``, ``playlists``,
    ``playlist_sets`` (optional), ``ab``, ``skips``, ``cache``, ``recs``, ``data_quality``.

    Raises ``ValueError`` if two products would share a figure's name (DVC would then
    prefix both with their file) or the figures exceed :data:`MAX_COLUMNS`.
    """
    out = {
        "playlists": playlists(
            details["offline"], details["playlists"], details.get("playlist_sets")
        ),
        "ab": ab(details["ab"]),
        "skips": skips(details["skips"]),
        "cache": cache(details["cache"]),
        "recs": recs(details["recs"]),
        "data": data(details["data_quality"]),
    }
    names = [name for figures in out.values() for name in figures]
    if len(names) != len(set(names)):
        raise ValueError(f"headline names repeat across products: {sorted(names)}")
    if len(names) > MAX_COLUMNS:
        raise ValueError(f"{len(names)} headline figures, more than {MAX_COLUMNS}")
    return out
