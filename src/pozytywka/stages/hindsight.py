"""Stage `hindsight`: the playlists published at the base revision, scored on their week.

Reads the committed copy of the base's results (``retrain/previous.json``,
written by ``pozytywka retrain`` before it advances the data, so this stage's inputs
are all declared) and the history of earlier weeks (``retrain/history.csv``);
writes ``metrics/hindsight.json``, the per-playlist table, the history with this
week's row (one row per week: a rerun replaces it) and its plot.
"""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..config import Params
from ..errors import PozytywkaError
from ..io import read_json, save_figure, write_csv, write_json
from ..plotting import MODEL_COLOURS, legend_outside, message_figure, new_figure
from ..retrain import rounded
from ..retrain.hindsight import read_history, score_previous, update_history

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    for path in (paths.WEEKLY_POPULARITY, paths.INTERIM_TRACK_GENRES, paths.RETRAIN_PREVIOUS):
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run the earlier stages (or make retrain)")
    previous = read_json(paths.RETRAIN_PREVIOUS)
    raw = paths.RETRAIN_HISTORY.read_bytes() if paths.RETRAIN_HISTORY.exists() else None
    weekly = pd.read_parquet(
        paths.WEEKLY_POPULARITY, columns=["week_start", "track_id", "popularity"]
    )
    track_genres = pd.read_parquet(paths.INTERIM_TRACK_GENRES)
    listeners = pd.read_parquet(paths.WEEKLY_LISTENERS) if paths.WEEKLY_LISTENERS.exists() else None
    table, summary = score_previous(
        previous, weekly, track_genres, params.evaluate.k, listeners=listeners
    )
    history = update_history(read_history(raw), summary)
    write_json(paths.HINDSIGHT_METRICS, rounded(summary))
    write_csv(paths.HINDSIGHT_REPORTS / "by_playlist.csv", table.round(6))
    write_csv(paths.HINDSIGHT_HISTORY, history.round(6))
    _plot(history, params.evaluate.k, summary)
    if summary["status"] == "scored":
        log.info(
            "week %s in hindsight: %d playlists, NDCG@%d %.4f (backtest promised %s), "
            "capture ratio %.4f, set reach %s listeners, capture@10 %s",
            summary["iso_week"],
            summary["playlists"],
            params.evaluate.k,
            summary["ndcg_at_k"],
            summary["promised_ndcg_at_k"],
            summary["capture_ratio"],
            summary["set_reach"],
            summary["capture_at_10"],
        )
    else:
        log.info("hindsight: nothing to score (%s)", summary["status"])


TITLE = "Published playlists, scored on the week they were for"


def empty_message(summary: dict) -> str:
    """Why the history has no point yet, in words (the plot says it instead of empty axes)."""
    if summary.get("status") == "not_in_data":
        return (
            f"No published week has been scored yet: the playlists for the week of "
            f"{summary.get('week_start')} wait for that week's data (the data ends with the "
            f"week of {summary.get('last_week_in_data')}); the next retraining adds it."
        )
    return (
        "No published week has been scored yet: the first retraining (make retrain) "
        "adds a week of data and scores the playlists published for it, one point per week."
    )


def history_figure(history: pd.DataFrame, k: int, summary: dict):
    """One point per retrained week: NDCG@k and capture ratio, with the backtest's promise;
    with no week scored yet, the reason in words."""
    if not len(history):
        return message_figure(TITLE, empty_message(summary))
    fig, ax = new_figure(8.5, 4.0)
    x = list(range(len(history)))
    colour = MODEL_COLOURS["catboost"]
    ax.plot(x, history["ndcg_at_k"], marker="o", color=colour, label=f"NDCG@{k}")
    ax.plot(x, history["capture_ratio"], marker="s", color="#2ca02c", label="capture ratio")
    ax.plot(
        x,
        history["promised_ndcg_at_k"],
        linestyle="--",
        color=colour,
        label=f"NDCG@{k} the backtest promised",
    )
    ax.set_xticks(x, history["iso_week"], rotation=30, ha="right")
    ax.set_ylabel("mean over the week's playlists\n(0 to 1, higher is better)")
    legend_outside(ax, fontsize=8)
    ax.set_xlabel("ISO week the playlists were published for")
    ax.set_title(TITLE)
    fig.tight_layout()
    return fig


def _plot(history: pd.DataFrame, k: int, summary: dict) -> None:
    save_figure(paths.HINDSIGHT_REPORTS / "history.png", history_figure(history, k, summary))
