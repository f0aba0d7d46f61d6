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
from ..plotting import MODEL_COLOURS, new_figure
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
    table, summary = score_previous(previous, weekly, track_genres, params.evaluate.k)
    history = update_history(read_history(raw), summary)
    write_json(paths.HINDSIGHT_METRICS, rounded(summary))
    write_csv(paths.HINDSIGHT_REPORTS / "by_playlist.csv", table.round(6))
    write_csv(paths.HINDSIGHT_HISTORY, history.round(6))
    _plot(history, params.evaluate.k)
    if summary["status"] == "scored":
        log.info(
            "week %s in hindsight: %d playlists, NDCG@%d %.4f (backtest promised %s), "
            "capture ratio %.4f",
            summary["iso_week"],
            summary["playlists"],
            params.evaluate.k,
            summary["ndcg_at_k"],
            summary["promised_ndcg_at_k"],
            summary["capture_ratio"],
        )
    else:
        log.info("hindsight: nothing to score (%s)", summary["status"])


def _plot(history: pd.DataFrame, k: int) -> None:
    """One point per retrained week: NDCG@k and capture ratio, with the backtest's promise."""
    fig, ax = new_figure()
    x = list(range(len(history)))
    if len(history):
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
        ax.legend()
    else:
        ax.text(0.5, 0.5, "no retrained week yet", ha="center", va="center")
    ax.set_xlabel("week the playlists were published for")
    ax.set_title("Published playlists, scored on the week they were for")
    fig.tight_layout()
    save_figure(paths.HINDSIGHT_REPORTS / "history.png", fig)
