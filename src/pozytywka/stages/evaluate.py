"""Stage `evaluate`: backtest baseline vs CatBoost over the last eval_weeks weeks.

Two views of each backtest week: the per-genre ranking metrics
(``metrics/offline.json``, ``reports/evaluate/offline_by_week.*``) and the week's
playlists built by each model as a set and measured on what listeners did
(set reach, reach share of the exclusive oracle, per-playlist capture@10/@20:
``metrics/playlist_sets.json``, ``reports/evaluate/playlist_sets_by_week.*``;
:mod:`pozytywka.playlists.setmetrics`).
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
from ..playlists.setmetrics import (
    SET_MODELS,
    by_week_columns,
    summarise_sets,
    week_set_measures,
)
from ..plotting import MODEL_COLOURS, legend_outside, message_figure, new_figure
from ..weeks import WEEK

log = logging.getLogger(__name__)
MODELS = ["baseline", "catboost"]


def run(params: Params) -> None:
    for path in (
        paths.FEATURES,
        paths.INTERIM_TRACK_GENRES,
        paths.INTERIM_TRACKS,
        paths.WEEKLY_LISTENERS,
    ):
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
    sets_by_week = playlist_sets_by_week(
        predictions,
        pd.read_parquet(paths.WEEKLY_LISTENERS),
        pd.read_parquet(paths.INTERIM_TRACKS),
        track_genres,
        params,
    )
    sets = summarise_sets(sets_by_week, params.playlists.n_genres)
    write_json(paths.PLAYLIST_SETS_METRICS, sets)
    write_csv(paths.EVALUATE_REPORTS / "playlist_sets_by_week.csv", sets_by_week.round(6))
    save_figure(
        paths.EVALUATE_REPORTS / "playlist_sets_by_week.png", sets_figure(sets_by_week, sets)
    )
    log.info(
        "playlist sets: reach share of the exclusive oracle baseline %s, catboost %s "
        "(catboost reached more listeners in %d/%d weeks); capture@10 baseline %s, "
        "catboost %s, oracle %s",
        _fmt(sets["baseline"]["reach_share"]),
        _fmt(sets["catboost"]["reach_share"]),
        sets["weeks_catboost_reach_better"],
        sets["weeks_evaluated"],
        _fmt(sets["baseline"]["capture_at_10"]),
        _fmt(sets["catboost"]["capture_at_10"]),
        _fmt(sets["oracle"]["capture_at_10"]),
    )
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


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def playlist_sets_by_week(
    predictions: pd.DataFrame,
    listeners: pd.DataFrame,
    tracks: pd.DataFrame,
    track_genres: pd.DataFrame,
    params: Params,
) -> pd.DataFrame:
    """One row per backtest week: :func:`week_set_measures` on the week after it.

    ``predictions``: the backtest's (:data:`~pozytywka.playlists.backtest.PREDICTION_COLUMNS`);
    ``listeners``: ``data/processed/weekly_listeners.parquet``. Columns:
    :func:`by_week_columns`; weeks as ``YYYY-MM-DD`` strings.
    """
    listeners = listeners.assign(week_start=pd.to_datetime(listeners["week_start"]))
    rows = []
    for week, frame in predictions.groupby("week_start", sort=True):
        target = pd.Timestamp(week) + WEEK
        played = listeners.loc[listeners["week_start"] == target, ["user_id", "track_id"]]
        row = week_set_measures(frame, played, tracks, track_genres, params.playlists)
        row["week_start"] = pd.Timestamp(week).strftime("%Y-%m-%d")
        row["target_week"] = target.strftime("%Y-%m-%d")
        rows.append(row)
    return pd.DataFrame(rows, columns=by_week_columns())


def sets_figure(by_week: pd.DataFrame, sets: dict):
    """Set reach per backtest week (listeners) and per-playlist capture@10, per model."""
    title = "Playlist sets: reach and capture@10 per backtest week"
    if not len(by_week):
        return message_figure(
            title, "No backtest week could be scored: nothing to plot (metrics/playlist_sets.json)."
        )
    colours = {**MODEL_COLOURS, "oracle": "#2ca02c"}
    fig, (left, right) = new_figure(13.0, 4.2, ncols=2)
    x = list(range(len(by_week)))
    for model in SET_MODELS:
        share = "" if model == "oracle" else f"reach {_fmt(sets[model]['reach_share'])} of oracle, "
        label = f"{model}: {share}capture@10 {_fmt(sets[model]['capture_at_10'])}"
        left.plot(x, by_week[f"{model}_reach"], marker="o", color=colours[model])
        right.plot(
            x,
            pd.to_numeric(by_week[f"{model}_capture_at_10"], errors="coerce"),
            marker="o",
            color=colours[model],
            label=label,
        )
    for ax in (left, right):
        ax.set_xticks(x, by_week["target_week"], rotation=30, ha="right")
        ax.set_xlabel("target week")
    left.set_ylabel("set reach: listeners with a full play\nof a published track")
    right.set_ylabel("capture@10, mean over playlists\n(0 to 1, higher is better)")
    left.set_title("Set reach")
    right.set_title("Per-playlist capture@10")
    legend_outside(right, fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
