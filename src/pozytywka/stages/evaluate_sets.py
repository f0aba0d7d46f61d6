"""Stage `evaluate_sets`: the playlists each model would have published, as a set,
in each backtest week, measured on what listeners did the week after.

Reads the backtest's predictions (``evaluate``) and builds each week's set with the
playlist rules (``playlists.*``) for the baseline, CatBoost and the exclusive oracle
(the same rules on actual popularity); writes set reach, reach share of the oracle and
per-playlist capture@10/@20 (``metrics/playlist_sets.json``,
``reports/evaluate/playlist_sets_by_week.*``; :mod:`pozytywka.playlists.setmetrics`).
A separate stage, so a change of the playlist rules reruns this, not the backtest.
"""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..config import Params
from ..errors import PozytywkaError
from ..io import save_figure, write_csv, write_json
from ..playlists.setmetrics import (
    SET_MODELS,
    by_week_columns,
    summarise_sets,
    week_set_measures,
)
from ..plotting import MODEL_COLOURS, legend_outside, message_figure, new_figure
from ..weeks import WEEK

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    for path in (
        paths.BACKTEST_PREDICTIONS,
        paths.INTERIM_TRACK_GENRES,
        paths.INTERIM_TRACKS,
        paths.WEEKLY_LISTENERS,
    ):
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run the earlier stages first")
    predictions = pd.read_parquet(paths.BACKTEST_PREDICTIONS)
    track_genres = pd.read_parquet(paths.INTERIM_TRACK_GENRES)
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
