"""Implicit feedback per (listener, track) and the training matrix before a week (DESIGN §11).

:func:`weekly_interactions` turns the interim sessions into one row per (week,
listener, track) with event counts: ``plays``, ``full_plays`` (DESIGN §4, the
same SQL as the playlists' popularity: :mod:`pozytywka.plays`), ``skips`` and
``likes``, over the complete weeks only. :func:`train_data` is the time split:
it keeps the rows of weeks strictly before the week to predict, and sums them
into one weight per pair::

    weight = full_play x full_plays + like x likes + skip x skips   (skip <= 0)

each week's contribution multiplied by ``0.5 ** (age_weeks / half_life_weeks)``
when a half-life is set (age 1 = the last week before the predicted one), then
clipped at 0 (a pair the listener mostly skipped carries no positive evidence).
A track is *heard* by a listener when they played it (full or not) before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..config import RecsWeightParams
from ..dump_format import AUDIO_FEATURES
from ..engine import DuckDBEngine, Engine
from ..plays import _IS_FULL, complete_week_starts, judged_events_sql
from ..weeks import WEEK

#: Audio features of the taste profile: the dump's, without ``key`` (a pitch class, not a scale).
AUDIO = tuple(f for f in AUDIO_FEATURES if f != "key")
COLUMNS = ["week_start", "user_id", "track_id", "plays", "full_plays", "skips", "likes"]


def weekly_interactions_sql(sessions: str = "sessions") -> str:
    """SQL: counts per (week_start, user_id, track_id) of plays, full plays, skips, likes."""
    return f"""
SELECT date_trunc('week', ts) AS week_start, user_id, track_id,
       SUM(CASE WHEN event_type = 'play' AND session_id IS NOT NULL THEN 1 ELSE 0 END) AS plays,
       SUM({_IS_FULL}) AS full_plays,
       SUM(CASE WHEN event_type = 'skip' THEN 1 ELSE 0 END) AS skips,
       SUM(CASE WHEN event_type = 'like' THEN 1 ELSE 0 END) AS likes
FROM ({judged_events_sql(sessions)}) judged
WHERE user_id IS NOT NULL
GROUP BY date_trunc('week', ts), user_id, track_id
"""


def weekly_interactions(
    sessions: pd.DataFrame | str | os.PathLike[str], engine: Engine | None = None
) -> pd.DataFrame:
    """Event counts per (week, listener, track) over the complete weeks (columns :data:`COLUMNS`).

    ``sessions``: the interim sessions table or its Parquet path; ``engine``: where
    the SQL runs (DuckDB when None, or Spark: :mod:`pozytywka.engine`), the same
    result. Counts are int32, ``week_start`` is ``datetime64[us]``; rows sorted by
    week, listener, track.
    """
    engine = DuckDBEngine() if engine is None else engine
    weeks = complete_week_starts(sessions, engine)
    out = engine.query(weekly_interactions_sql("sessions"), {"sessions": sessions})
    out["week_start"] = pd.to_datetime(out["week_start"]).astype("datetime64[us]")
    out = out[out["week_start"].isin(pd.DatetimeIndex(weeks).astype("datetime64[us]"))].copy()
    for col in COLUMNS[3:]:
        out[col] = out[col].astype("int32")
    out["user_id"] = out["user_id"].astype(str)
    out["track_id"] = out["track_id"].astype(str)
    out = out.sort_values(["week_start", "user_id", "track_id"], kind="stable")
    return out[COLUMNS].reset_index(drop=True)


@dataclass(frozen=True)
class TrainData:
    """Everything a model may see to recommend for ``week``: only weeks strictly before it.

    ``matrix``: listeners x tracks (rows ``users``, columns ``items``), CSR float32 of
    the clipped weights; ``heard``: the same shape, 1 where the listener played the
    track; ``history``: the interaction rows used; ``fav``: listeners x genres (CSR,
    1 = a declared favourite genre), ``item_genres``: tracks x genres (CSR), genre
    names in ``genres``.
    """

    week: pd.Timestamp
    users: pd.Index
    items: pd.Index
    matrix: sp.csr_matrix
    heard: sp.csr_matrix
    history: pd.DataFrame
    fav: sp.csr_matrix
    item_genres: sp.csr_matrix
    genres: pd.Index
    audio: np.ndarray
    history_users: np.ndarray  # row index of each ``history`` row's listener
    history_items: np.ndarray  # column index of its track

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class Catalogue:
    """The fixed universe of a run: every listener, every track, their genres.

    ``audio``: tracks x audio features, standardised (mean 0, sd 1; missing = 0).
    """

    users: pd.Index
    items: pd.Index
    fav: sp.csr_matrix
    item_genres: sp.csr_matrix
    genres: pd.Index
    audio: np.ndarray


def catalogue(
    interactions: pd.DataFrame,
    users: pd.DataFrame,
    tracks: pd.DataFrame,
    track_genres: pd.DataFrame,
) -> Catalogue:
    """Listeners (users table plus any in the log) and tracks (the whole catalogue), sorted.

    ``users``: interim users (``user_id``, ``favourite_genres`` lists); ``tracks``:
    interim tracks (``track_id``); ``track_genres``: (``track_id``, ``genre``).
    Favourite genres are matched lower-cased and trimmed (DESIGN §4's genre rule).
    """
    user_ids = pd.Index(
        sorted(set(users["user_id"].astype(str)) | set(interactions["user_id"].unique())),
        name="user_id",
    )
    item_ids = pd.Index(
        sorted(set(tracks["track_id"].astype(str)) | set(interactions["track_id"].unique())),
        name="track_id",
    )
    fav_rows = users[["user_id", "favourite_genres"]].explode("favourite_genres").dropna()
    fav_rows = fav_rows.assign(
        genre=fav_rows["favourite_genres"].astype(str).str.strip().str.lower()
    )
    genres = pd.Index(sorted(set(track_genres["genre"].astype(str)) | set(fav_rows["genre"])))
    fav = _indicator(user_ids, genres, fav_rows["user_id"].astype(str), fav_rows["genre"])
    item_genres = _indicator(
        item_ids, genres, track_genres["track_id"].astype(str), track_genres["genre"].astype(str)
    )
    cols = [c for c in AUDIO if c in tracks.columns]
    audio = (
        tracks.assign(track_id=tracks["track_id"].astype(str))
        .drop_duplicates("track_id")
        .set_index("track_id")
        .reindex(item_ids)[cols]
        .astype(np.float64)
    )
    audio = ((audio - audio.mean()) / audio.std(ddof=0).replace(0, 1)).fillna(0.0)
    return Catalogue(user_ids, item_ids, fav, item_genres, genres, audio.to_numpy(np.float32))


def _indicator(rows: pd.Index, cols: pd.Index, r: pd.Series, c: pd.Series) -> sp.csr_matrix:
    ri, ci = rows.get_indexer(r), cols.get_indexer(c)
    keep = (ri >= 0) & (ci >= 0)
    m = sp.csr_matrix(
        (np.ones(int(keep.sum()), np.float32), (ri[keep], ci[keep])), shape=(len(rows), len(cols))
    )
    m.data[:] = 1.0  # duplicates summed by the constructor count once
    return m


def train_data(
    interactions: pd.DataFrame, week: pd.Timestamp, cat: Catalogue, weights: RecsWeightParams
) -> TrainData:
    """The time split: interaction rows of weeks strictly before ``week``, summed per pair."""
    week = pd.Timestamp(week)
    history = interactions[interactions["week_start"] < week]
    ui = cat.users.get_indexer(history["user_id"])
    ii = cat.items.get_indexer(history["track_id"])
    value = (
        weights.full_play * history["full_plays"].to_numpy(np.float64)
        + weights.like * history["likes"].to_numpy(np.float64)
        + weights.skip * history["skips"].to_numpy(np.float64)
    )
    if weights.half_life_weeks > 0:
        age = ((week - history["week_start"]) / WEEK).to_numpy(np.float64)
        value = value * 0.5 ** (age / weights.half_life_weeks)
    shape = (len(cat.users), len(cat.items))
    matrix = sp.csr_matrix((value, (ui, ii)), shape=shape)  # sums a pair's weeks
    matrix.data = np.clip(matrix.data, 0, None)
    matrix.eliminate_zeros()
    matrix = matrix.astype(np.float32)
    matrix.sort_indices()
    played = history["plays"].to_numpy() > 0
    heard = sp.csr_matrix(
        (np.ones(int(played.sum()), np.float32), (ui[played], ii[played])), shape=shape
    )
    heard.data[:] = 1.0
    return TrainData(
        week=week,
        users=cat.users,
        items=cat.items,
        matrix=matrix,
        heard=heard,
        history=history,
        fav=cat.fav,
        item_genres=cat.item_genres,
        genres=cat.genres,
        audio=cat.audio,
        history_users=ui,
        history_items=ii,
    )


def relevant(interactions: pd.DataFrame, week: pd.Timestamp, cat: Catalogue) -> sp.csr_matrix:
    """Listeners x tracks, 1 where the listener fully played the track in ``week`` (the truth)."""
    rows = interactions[(interactions["week_start"] == week) & (interactions["full_plays"] > 0)]
    return _indicator(cat.users, cat.items, rows["user_id"], rows["track_id"])


def active_users(truth: sp.csr_matrix) -> np.ndarray:
    """Row indices of listeners with at least one relevant track (the evaluated listeners)."""
    return np.flatnonzero(np.diff(truth.indptr) > 0)
