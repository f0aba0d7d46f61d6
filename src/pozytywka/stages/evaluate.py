"""Stage `evaluate`: backtest baseline vs CatBoost over the last eval_weeks weeks.

The per-genre ranking metrics of each backtest week (``metrics/offline.json``,
``reports/evaluate/offline_by_week.*``) and the backtest's predictions
(``data/processed/backtest_predictions.parquet``). The playlists each model would
have published from them are measured by the next stage, ``evaluate_sets``, so a
change of the playlist rules does not refit the backtest's models.
"""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..checks import eval_weeks_record
from ..config import Params
from ..errors import PozytywkaError
from ..io import save_figure, write_csv, write_json, write_parquet
from ..playlists.backtest import backtest_weeks, run_backtest
from ..playlists.metrics import (
    METRIC_NAMES,
    genre_week_metrics,
    left_out_weeks,
    summarise,
    weekly_metrics,
)
from ..plotting import MODEL_COLOURS, legend_outside, message_figure, new_figure

log = logging.getLogger(__name__)
MODELS = ["baseline", "catboost"]


def run(params: Params) -> None:
    for path in (paths.FEATURES, paths.INTERIM_TRACK_GENRES):
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run the earlier stages first")
    features = pd.read_parquet(paths.FEATURES)
    track_genres = pd.read_parquet(paths.INTERIM_TRACK_GENRES)
    predictions, fit_log = run_backtest(features, params)
    for row in fit_log.itertuples():
        log.info(
            "week %s: trained on weeks %s..%s (%d rows), early-stopped on <= %s, best iteration %d",
            row.week_start.date(),
            row.first_train_week.date(),
            row.last_train_week.date(),
            row.n_train_rows,
            row.last_valid_week.date(),
            row.best_iteration,
        )
    k = params.evaluate.k
    by_genre = genre_week_metrics(
        predictions, features, track_genres, MODELS, k, params.evaluate.n_genres
    )
    if by_genre.empty:
        raise PozytywkaError("no (week, genre) with listened tracks to evaluate on")
    weekly = weekly_metrics(by_genre)
    left_out = backtest_weeks(features, params.evaluate.eval_weeks)[1] + left_out_weeks(
        predictions, by_genre
    )
    for week in sorted(left_out, key=lambda w: w["week_start"]):
        log.warning("backtest week %s left out: %s", week["week_start"], week["reason"])
    summary = summarise(weekly, k, left_out=left_out)

    by_week = weekly.copy()
    by_week["week_start"] = by_week["week_start"].dt.strftime("%Y-%m-%d")
    ordered = ["week_start", "n_genres"] + [f"{m}_{n}" for n in METRIC_NAMES for m in MODELS]
    write_parquet(paths.BACKTEST_PREDICTIONS, predictions)
    summary["eval_weeks"] = eval_weeks_record(params, "playlists")  # asked, used, why
    write_json(paths.OFFLINE_METRICS, summary)
    write_csv(paths.EVALUATE_REPORTS / "offline_by_week.csv", by_week[ordered].round(6))
    _plot(by_week, summary, k)
    ci = (
        f"95% CI {summary['ndcg_diff_ci_low']:+.4f}..{summary['ndcg_diff_ci_high']:+.4f}"
        if summary["ndcg_diff_ci_low"] is not None
        else summary["interval"]
    )
    log.info(
        "NDCG@%d baseline %.4f, catboost %.4f (diff %+.4f, %s, better in %d/%d weeks; "
        "%d weeks left out)",
        k,
        summary["baseline"]["ndcg_at_k"],
        summary["catboost"]["ndcg_at_k"],
        summary["ndcg_diff"],
        ci,
        summary["weeks_catboost_better"],
        summary["weeks_evaluated"],
        len(left_out),
    )


def by_week_figure(by_week: pd.DataFrame, summary: dict, k: int):
    """Baseline vs CatBoost NDCG@k per backtest week (legend outside the data)."""
    title = "Backtest: baseline vs CatBoost per week"
    if not len(by_week):
        return message_figure(
            title,
            "No backtest week could be scored: nothing to plot (metrics/offline.json says why).",
        )
    fig, ax = new_figure(8.5, 4.0)
    x = range(len(by_week))
    for model in MODELS:
        ax.plot(
            x,
            by_week[f"{model}_ndcg_at_k"],
            marker="o",
            color=MODEL_COLOURS[model],
            label=f"{model} (mean {summary[model]['ndcg_at_k']:.3f})",
        )
    ax.set_xticks(list(x), by_week["week_start"], rotation=30, ha="right")
    ax.set_xlabel("feature week (predicting the week after)")
    ax.set_ylabel(f"NDCG@{k}, mean over genres\n(0 to 1, higher is better)")
    ax.set_title(title)
    legend_outside(ax)
    fig.tight_layout()
    return fig


def _plot(by_week: pd.DataFrame, summary: dict, k: int) -> None:
    save_figure(paths.EVALUATE_REPORTS / "offline_by_week.png", by_week_figure(by_week, summary, k))
