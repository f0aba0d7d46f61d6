"""Training on a sample of the tracks: the time it saves and the NDCG it costs.

For huge data the last lever on training time is sampling (docs/scaling.md). Its
price is measured the honest way: the same time-based backtest as the `evaluate`
stage, with CatBoost trained on a stable hash sample of the tracks, scored on
every track of the evaluated weeks.
"""

from __future__ import annotations

import time

import pandas as pd

from ..config import Params
from ..markdown import table
from ..playlists.backtest import run_backtest
from ..playlists.metrics import genre_week_metrics, summarise, weekly_metrics

MODELS = ["baseline", "catboost"]


def sampling_tradeoff(
    features: pd.DataFrame,
    track_genres: pd.DataFrame,
    params: Params,
    fractions: list[float],
) -> list[dict]:
    """One row per fraction: training rows, backtest seconds and NDCG@k of both models."""
    rows = []
    k = params.evaluate.k
    for fraction in fractions:
        started = time.perf_counter()
        predictions, fit_log = run_backtest(features, params, train_fraction=fraction)
        seconds = time.perf_counter() - started
        by_genre = genre_week_metrics(
            predictions, features, track_genres, MODELS, k, params.evaluate.n_genres
        )
        summary = summarise(weekly_metrics(by_genre), k)
        rows.append(
            {
                "train_fraction": fraction,
                "mean_train_rows": int(fit_log["n_train_rows"].mean()),
                "backtest_seconds": round(seconds, 2),
                "catboost_ndcg_at_k": summary["catboost"]["ndcg_at_k"],
                "baseline_ndcg_at_k": summary["baseline"]["ndcg_at_k"],
                "ndcg_diff": summary["ndcg_diff"],
                "ndcg_diff_ci_low": summary["ndcg_diff_ci_low"],
                "ndcg_diff_ci_high": summary["ndcg_diff_ci_high"],
            }
        )
    return rows


def format_rows(rows: list[dict]) -> str:
    """A Markdown table of :func:`sampling_tradeoff`'s rows."""
    headers = ["train fraction", "training rows", "backtest s", "CatBoost NDCG@k", "baseline"]
    cells = [
        [
            f"{r['train_fraction']:g}",
            f"{r['mean_train_rows']:,}",
            f"{r['backtest_seconds']:.1f}",
            f"{r['catboost_ndcg_at_k']:.4f}",
            f"{r['baseline_ndcg_at_k']:.4f}",
            f"{r['ndcg_diff']:+.4f} [{r['ndcg_diff_ci_low']:+.4f}, {r['ndcg_diff_ci_high']:+.4f}]",
        ]
        for r in rows
    ]
    return table([*headers, "diff [95% CI]"], cells, align="rrrrrl")
