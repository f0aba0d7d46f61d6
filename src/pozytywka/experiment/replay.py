"""Real-dump mode: replay the arms against what users actually did in a held-out week.

With no behaviour model, the best available answer is an estimate: build
each arm's playlists for the last complete week from the backtest's
predictions (made only from earlier weeks: ``baseline_score`` for A,
``catboost_score`` for B) with the same :func:`build_playlist_set`, and count
each user's real events in that week on the tracks their arm would have
served: a played-through served track is a full play, a skipped one a skip.
Users did not actually see these playlists, so this measures how well each
arm's choice matches what users were going to do, not what the playlists
would cause: the summary says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import PlaylistParams
from ..playlists.publish import build_playlist_set, playlist_document
from ..weeks import WEEK

ARM_SCORES = {"A": ("baseline", "baseline_score"), "B": ("catboost", "catboost_score")}


def replay_documents(
    backtest: pd.DataFrame,
    tracks: pd.DataFrame,
    track_genres: pd.DataFrame,
    params: PlaylistParams,
) -> tuple[pd.Timestamp, dict[str, dict]]:
    """The held-out week (the last backtest target week) and each arm's playlists for it."""
    held_out = pd.Timestamp(backtest["target_week"].max())
    rows = backtest[backtest["target_week"] == held_out]
    docs = {}
    for arm, (model, column) in ARM_SCORES.items():
        scores = rows[["track_id", column]].rename(columns={column: "score"})
        playlists, skipped = build_playlist_set(scores, tracks, track_genres, params)
        docs[arm] = playlist_document(held_out, model, playlists, skipped)
    return held_out, docs


def week_events(sessions: pd.DataFrame, week_start: pd.Timestamp) -> pd.DataFrame:
    """The sessions' events of one week ``[week_start, week_start + 7 days)``."""
    ts = pd.to_datetime(sessions["timestamp"])
    start = pd.Timestamp(week_start)
    return sessions[(ts >= start) & (ts < start + WEEK)].reset_index(drop=True)


def on_served_tracks(
    events: pd.DataFrame,
    assignment: pd.DataFrame,
    served_by_arm: Mapping[str, Sequence[Sequence[str]]],
) -> np.ndarray:
    """True for events of an assigned user on a track their arm serves."""
    pairs = pd.DataFrame(
        [(arm, t) for arm, lists in served_by_arm.items() for p in lists for t in p],
        columns=["arm", "track_id"],
    ).drop_duplicates()
    pairs["_served"] = True
    ev = events[["user_id", "track_id"]].astype(object).copy()
    ev["user_id"] = ev["user_id"].astype(str)
    ev["track_id"] = ev["track_id"].where(ev["track_id"].notna(), None)
    arms = assignment[["user_id", "arm"]].astype({"user_id": str})
    ev = ev.merge(arms, on="user_id", how="left").merge(pairs, on=["arm", "track_id"], how="left")
    return ev["_served"].fillna(False).to_numpy(dtype=bool)
