"""What the overlap rule costs: published-style playlists scored on the backtest weeks.

For each backtest week (``data/processed/backtest_predictions.parquet``: ``week_start``,
``track_id``, ``<model>_score``, ``actual`` = the track's popularity in the week after,
DESIGN §4), the playlists a model would have published are built with
:func:`~pozytywka.playlists.publish.build_playlist_set` under the given params, and
measured against what listeners actually did next week:

* ``distinct_share``: distinct track ids / track slots over the week's playlists;
* ``captured_popularity``: actual next-week popularity summed over the slots (a track
  in two playlists counts twice: it fills two slots);
* ``captured_distinct``: the same over distinct tracks (each track once).

Tracks without an ``actual`` value (not seen in the target week) count as 0.
"""

from __future__ import annotations

import pandas as pd

from ..config import PlaylistParams
from .publish import build_playlist_set


def published_overlap_by_week(
    predictions: pd.DataFrame,
    tracks: pd.DataFrame,
    track_genres: pd.DataFrame,
    params: PlaylistParams,
    model: str = "catboost",
) -> pd.DataFrame:
    """One row per backtest week: ``week_start``, ``slots``, ``distinct``,
    ``distinct_share``, ``captured_popularity``, ``captured_distinct``."""
    rows = []
    for week, frame in predictions.groupby("week_start", sort=True):
        scores = frame[["track_id"]].assign(score=frame[f"{model}_score"])
        playlists, _ = build_playlist_set(scores, tracks, track_genres, params)
        actual = frame.set_index(frame["track_id"].astype(str))["actual"].fillna(0.0)
        ids = [t["track_id"] for p in playlists for t in p["tracks"]]
        distinct = set(ids)
        rows.append(
            {
                "week_start": pd.Timestamp(week),
                "slots": len(ids),
                "distinct": len(distinct),
                "distinct_share": len(distinct) / len(ids) if ids else 1.0,
                "captured_popularity": float(sum(actual.get(i, 0.0) for i in ids)),
                "captured_distinct": float(sum(actual.get(i, 0.0) for i in distinct)),
            }
        )
    return pd.DataFrame(rows)
