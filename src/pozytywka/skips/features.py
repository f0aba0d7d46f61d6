"""Features of a play known when it starts (DESIGN §10), vectorised in DuckDB SQL.

A play of week ``w`` may use (1) the listener's and the track's **history**: plays
whose outcome was known (``known_at``, :mod:`pozytywka.skips.target`) before
Monday 00:00 of ``w``, and likes before it; (2) the **catalogue** (audio, age,
genres) and the listener's profile (favourite genres, premium); (3) the **same
session's earlier events**: events strictly before the play (a tie in time is not
"earlier": file order is not event order, as in :mod:`pozytywka.plays`). Nothing
else: in particular never the play's own outcome, so flipping a row's outcome
changes none of its features (the leak rule, tested).

History is kept as cumulative tables (:func:`history_tables`) keyed by
``valid_from`` (the first week a row may use), joined with ASOF joins; the same
tables and the same :func:`play_features` score one live play in
:mod:`pozytywka.skips.online`, so training and serving share one implementation.

Skip rates are shrunk towards a prior with ``prior_plays`` pseudo-plays
(empirical Bayes, as in additive smoothing): listener and track rates towards the
global rate of the history, the listener's rate in the track's genres towards the
listener's rate, last week's track rate towards the track's rate; the listener's
rate on the track's artist, on the track itself and last week towards the listener's
rate.

Session sequence features read the outcomes of the session's earlier plays only
(a play's outcome is known by the time the next play starts): the 2nd and 3rd
previous outcomes (``previous_skipped_2``/``_3``: 1 skipped, 0 full, -1 no such
play; ``previous_skipped`` is the 1st, NaN for the session's first play), the plays
since the last skipped one and the seconds since that play started (NaN when no
earlier play was skipped), and the earlier plays of the same track in the session.
Earlier plays tied in time are ordered skip first, as ``previous_skipped``.

Audio taste lives in the dimensions the synthetic service's listeners judge by
(:data:`TASTE_DIMS`, tempo scaled to about 0..1 as ``(bpm - 60) / 140``); the
listener's taste is the mean over their full plays in the history, and the
catalogue centroid of their favourite genres; a feature is the Euclidean distance
of the track to each.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..dump_format import AUDIO_FEATURES
from ..synthetic.world import TASTE_DIMS  # the audio dims listeners judge tracks by
from .target import duckdb_connection

HISTORY_FEATURES = [
    "user_plays",
    "user_skip_rate",
    "user_likes",
    "user_like_rate",
    "track_plays",
    "track_skip_rate",
    "track_likes",
    "track_like_rate",
    "track_plays_last_week",
    "track_skip_rate_last_week",
    "genre_affinity",
    "user_genre_skip_rate",
    "taste_distance",
    "artist_plays",
    "artist_skip_rate",
    "artist_plays_last_week",
    "artist_skip_rate_last_week",
    "user_plays_last_week",
    "user_skip_rate_last_week",
    "user_artist_plays",
    "user_artist_skip_rate",
    "user_track_plays",
    "user_track_skip_rate",
]
PROFILE_FEATURES = ["favourite_genre_match", "premium", "favourite_distance"]
CATALOGUE_FEATURES = [*AUDIO_FEATURES, "duration_s", "track_age_days"]
SESSION_FEATURES = [
    "session_position",
    "session_skips_so_far",
    "session_skip_share",
    "previous_skipped",
    "seconds_since_previous_event",
    "seconds_since_session_start",
    "previous_skipped_2",
    "previous_skipped_3",
    "plays_since_last_skip",
    "seconds_since_last_skip",
    "session_track_repeats",
]
FEATURE_COLUMNS = HISTORY_FEATURES + PROFILE_FEATURES + CATALOGUE_FEATURES + SESSION_FEATURES

#: The prior skip rate of a week with no history at all (the first week of a dump).
EMPTY_HISTORY_SKIP_RATE = 0.3

#: Columns a row to featurise needs (the target's, ``skipped`` may be null for a live play).
ROW_COLUMNS = ["play_id", "session_id", "user_id", "track_id", "ts", "week_start", "skipped"]


# Exact, order-independent sums of floats in SQL: values are rounded to 15 decimals
# (far below a taste dim's precision) and added as 128-bit integers (|x| < 1e23).
EXACT_SUM = "DECIMAL(38, 15)"


def taste_vectors(tracks: pd.DataFrame) -> pd.DataFrame:
    """``track_id`` and the :data:`TASTE_DIMS` of each track (tempo rescaled; missing -> NaN)."""
    out = pd.DataFrame({"track_id": tracks["track_id"].astype(str)})
    for dim in TASTE_DIMS:
        col = tracks[dim].astype(float) if dim in tracks else pd.Series(np.nan, index=tracks.index)
        out[dim] = ((col - 60.0) / 140.0 if dim == "tempo" else col).to_numpy()
    return out


def _artists(tracks: pd.DataFrame) -> np.ndarray:
    """Each track's ``artist_id`` (object, None when missing or the column is absent)."""
    if "artist_id" not in tracks:
        return np.full(len(tracks), None, dtype=object)
    col = tracks["artist_id"]
    return col.astype(object).where(col.notna(), None).to_numpy()


def catalogue_table(tracks: pd.DataFrame) -> pd.DataFrame:
    """Per track: ``artist_id``, audio features, ``duration_s``, ``release_date`` and the taste
    dims (``t_*``)."""
    out = pd.DataFrame({"track_id": tracks["track_id"].astype(str)})
    out["artist_id"] = _artists(tracks)
    for col in AUDIO_FEATURES:
        out[col] = tracks[col].astype(float).to_numpy() if col in tracks else np.nan
    out["duration_s"] = tracks["duration_ms"].astype(float).to_numpy() / 1000.0
    out["release_date"] = pd.to_datetime(tracks["release_date"]).astype("datetime64[us]").to_numpy()
    taste = taste_vectors(tracks)
    for dim in TASTE_DIMS:
        out[f"t_{dim}"] = taste[dim].to_numpy()
    return out.drop_duplicates("track_id").reset_index(drop=True)


def profile_table(
    users: pd.DataFrame, track_genres: pd.DataFrame, tracks: pd.DataFrame
) -> pd.DataFrame:
    """Per listener: ``premium`` (0/1) and the catalogue taste centroid of their favourite genres.

    The centroid (``f_*`` columns) is the mean over the favourite genres of each
    genre's mean taste vector over its catalogue tracks: known without any history.
    """
    taste = taste_vectors(tracks)
    genre_taste = track_genres.merge(taste, on="track_id").groupby("genre")[list(TASTE_DIMS)].mean()
    fav = users[["user_id", "favourite_genres"]].explode("favourite_genres").dropna()
    fav = fav.rename(columns={"favourite_genres": "genre"})
    centroid = (
        fav.merge(genre_taste, left_on="genre", right_index=True)
        .groupby("user_id")[list(TASTE_DIMS)]
        .mean()
    )
    centroid.columns = [f"f_{d}" for d in TASTE_DIMS]
    out = pd.DataFrame(
        {
            "user_id": users["user_id"].astype(str).to_numpy(),
            "premium": users["premium_user"].fillna(False).astype(int).to_numpy()
            if "premium_user" in users
            else 0,
        }
    ).drop_duplicates("user_id")
    return out.merge(centroid, left_on="user_id", right_index=True, how="left")


def favourite_pairs(users: pd.DataFrame) -> pd.DataFrame:
    """``user_id``, ``genre``: one row per listener's favourite genre."""
    fav = users[["user_id", "favourite_genres"]].explode("favourite_genres").dropna()
    fav = fav.rename(columns={"favourite_genres": "genre"})
    fav["genre"] = fav["genre"].astype(str)
    return fav.drop_duplicates().reset_index(drop=True)


def _likes(sessions: pd.DataFrame) -> pd.DataFrame:
    likes = sessions.loc[
        (sessions["event_type"] == "like") & sessions["track_id"].notna(),
        ["user_id", "track_id", "timestamp"],
    ]
    return likes.rename(columns={"timestamp": "ts"}).reset_index(drop=True)


def history_tables(
    targets: pd.DataFrame,
    sessions: pd.DataFrame,
    track_genres: pd.DataFrame,
    tracks: pd.DataFrame,
) -> dict[str, pd.DataFrame]:
    """Cumulative history per listener, track, (listener, genre) and overall.

    Input: the target rows (:func:`pozytywka.skips.target.play_targets`, all weeks),
    the interim sessions (for likes), track genres, tracks (for taste vectors).
    Each table has ``valid_from`` = Monday after the week its last counted event
    became known; its counts are totals over everything known before ``valid_from``:

    - ``user``: ``user_id, valid_from, plays, skips, likes, full_n, s_<dim>``
      (sums of taste dims over full plays with audio, and their count ``full_n``),
      ``week_plays``, ``week_skips`` (the week before ``valid_from`` alone);
    - ``track``: ``track_id, valid_from, plays, skips, likes`` and ``week_plays``,
      ``week_skips`` (the week before ``valid_from`` alone);
    - ``artist``: ``artist_id, valid_from, plays, skips, week_plays, week_skips``
      (the plays of the artist's tracks: a new release has no history, its artist has);
    - ``user_genre``: ``user_id, genre, valid_from, plays, skips``;
    - ``user_artist``: ``user_id, artist_id, valid_from, plays, skips``;
    - ``user_track``: ``user_id, track_id, valid_from, plays, skips``;
    - ``overall``: ``valid_from, plays, skips``.
    """
    con = duckdb_connection()
    con.register("targets", targets[["user_id", "track_id", "known_at", "skipped"]])
    con.register("likes", _likes(sessions))
    con.register("track_genres", track_genres[["track_id", "genre"]])
    con.register("taste", taste_vectors(tracks).drop_duplicates("track_id"))
    con.register(
        "artists",
        pd.DataFrame({"track_id": tracks["track_id"].astype(str), "artist_id": _artists(tracks)})
        .dropna()
        .drop_duplicates("track_id"),
    )
    # Float sums are order-dependent, and a parallel aggregate adds in whatever order
    # its threads finish: the taste sums are added as DECIMAL (exact integer arithmetic,
    # any order gives the same bits) and turned back into DOUBLE at the end.
    sums = ", ".join(
        f"SUM(CASE WHEN t.skipped = 0 THEN CAST(tv.{d} AS {EXACT_SUM}) END) AS s_{d}"
        for d in TASTE_DIMS
    )
    cum = ", ".join(f"CAST(SUM(s_{d}) OVER w AS DOUBLE) AS s_{d}" for d in TASTE_DIMS)
    known = "date_trunc('week', known_at) + INTERVAL 7 DAY"
    tables = {
        "user": f"""
WITH inc AS (
    SELECT t.user_id, {known} AS valid_from, COUNT(*) AS plays, SUM(t.skipped) AS skips,
           0 AS likes, SUM(CASE WHEN t.skipped = 0 AND tv.{TASTE_DIMS[0]} IS NOT NULL
                                THEN 1 ELSE 0 END) AS full_n, {sums}
    FROM targets t LEFT JOIN taste tv USING (track_id)
    WHERE t.user_id IS NOT NULL GROUP BY 1, 2
    UNION ALL
    SELECT user_id, date_trunc('week', ts) + INTERVAL 7 DAY, 0, 0, COUNT(*), 0,
           {", ".join("NULL" for _ in TASTE_DIMS)}
    FROM likes WHERE user_id IS NOT NULL GROUP BY 1, 2
), wk AS (
    SELECT user_id, valid_from, SUM(plays) AS plays, SUM(skips) AS skips, SUM(likes) AS likes,
           SUM(full_n) AS full_n, {", ".join(f"SUM(s_{d}) AS s_{d}" for d in TASTE_DIMS)}
    FROM inc GROUP BY 1, 2
)
SELECT user_id, valid_from, SUM(plays) OVER w AS plays, SUM(skips) OVER w AS skips,
       SUM(likes) OVER w AS likes, SUM(full_n) OVER w AS full_n, {cum},
       plays AS week_plays, skips AS week_skips
FROM wk WINDOW w AS (PARTITION BY user_id ORDER BY valid_from)
""",
        "track": f"""
WITH inc AS (
    SELECT track_id, {known} AS valid_from, COUNT(*) AS plays, SUM(skipped) AS skips, 0 AS likes
    FROM targets GROUP BY 1, 2
    UNION ALL
    SELECT track_id, date_trunc('week', ts) + INTERVAL 7 DAY, 0, 0, COUNT(*)
    FROM likes GROUP BY 1, 2
), wk AS (
    SELECT track_id, valid_from, SUM(plays) AS plays, SUM(skips) AS skips, SUM(likes) AS likes
    FROM inc GROUP BY 1, 2
)
SELECT track_id, valid_from, SUM(plays) OVER w AS plays, SUM(skips) OVER w AS skips,
       SUM(likes) OVER w AS likes, plays AS week_plays, skips AS week_skips
FROM wk WINDOW w AS (PARTITION BY track_id ORDER BY valid_from)
""",
        "artist": f"""
WITH wk AS (
    SELECT a.artist_id, {known} AS valid_from, COUNT(*) AS plays, SUM(t.skipped) AS skips
    FROM targets t JOIN artists a USING (track_id) GROUP BY 1, 2
)
SELECT artist_id, valid_from, SUM(plays) OVER w AS plays, SUM(skips) OVER w AS skips,
       plays AS week_plays, skips AS week_skips
FROM wk WINDOW w AS (PARTITION BY artist_id ORDER BY valid_from)
""",
        "user_genre": f"""
WITH wk AS (
    SELECT t.user_id, g.genre, {known} AS valid_from, COUNT(*) AS plays, SUM(t.skipped) AS skips
    FROM targets t JOIN track_genres g USING (track_id)
    WHERE t.user_id IS NOT NULL GROUP BY 1, 2, 3
)
SELECT user_id, genre, valid_from, SUM(plays) OVER w AS plays, SUM(skips) OVER w AS skips
FROM wk WINDOW w AS (PARTITION BY user_id, genre ORDER BY valid_from)
""",
        "user_artist": f"""
WITH wk AS (
    SELECT t.user_id, a.artist_id, {known} AS valid_from, COUNT(*) AS plays,
           SUM(t.skipped) AS skips
    FROM targets t JOIN artists a USING (track_id)
    WHERE t.user_id IS NOT NULL GROUP BY 1, 2, 3
)
SELECT user_id, artist_id, valid_from, SUM(plays) OVER w AS plays, SUM(skips) OVER w AS skips
FROM wk WINDOW w AS (PARTITION BY user_id, artist_id ORDER BY valid_from)
""",
        "user_track": f"""
WITH wk AS (
    SELECT user_id, track_id, {known} AS valid_from, COUNT(*) AS plays, SUM(skipped) AS skips
    FROM targets WHERE user_id IS NOT NULL GROUP BY 1, 2, 3
)
SELECT user_id, track_id, valid_from, SUM(plays) OVER w AS plays, SUM(skips) OVER w AS skips
FROM wk WINDOW w AS (PARTITION BY user_id, track_id ORDER BY valid_from)
""",
        "overall": f"""
WITH wk AS (SELECT {known} AS valid_from, COUNT(*) AS plays, SUM(skipped) AS skips
            FROM targets GROUP BY 1)
SELECT valid_from, SUM(plays) OVER w AS plays, SUM(skips) OVER w AS skips
FROM wk WINDOW w AS (ORDER BY valid_from)
""",
    }
    keys = {
        "user": ["user_id", "valid_from"],
        "track": ["track_id", "valid_from"],
        "artist": ["artist_id", "valid_from"],
        "user_genre": ["user_id", "genre", "valid_from"],
        "user_artist": ["user_id", "artist_id", "valid_from"],
        "user_track": ["user_id", "track_id", "valid_from"],
        "overall": ["valid_from"],
    }
    out = {}
    for name, sql in tables.items():
        frame = con.sql(sql).df()
        frame["valid_from"] = pd.to_datetime(frame["valid_from"]).astype("datetime64[us]")
        for col in frame.columns:
            if col in ("plays", "skips", "likes", "full_n", "week_plays", "week_skips"):
                frame[col] = frame[col].astype("int64")
        out[name] = frame.sort_values(keys[name], kind="stable").reset_index(drop=True)
    con.close()
    return out


def snapshot(history: dict[str, pd.DataFrame], week: pd.Timestamp) -> dict[str, pd.DataFrame]:
    """The history as known at Monday ``week``: per key only the last row valid by then.

    Scoring plays of ``week`` against the snapshot gives the same features as against
    the full tables (the ASOF joins pick that same row), from far smaller tables.
    ``track.week_*`` keep their meaning only when ``valid_from == week``.
    """
    week = pd.Timestamp(week)
    keys = {
        "user": ["user_id"],
        "track": ["track_id"],
        "artist": ["artist_id"],
        "user_genre": ["user_id", "genre"],
        "user_artist": ["user_id", "artist_id"],
        "user_track": ["user_id", "track_id"],
    }
    out = {}
    for name, frame in history.items():
        known = frame[frame["valid_from"] <= week]
        if name == "overall":
            out[name] = known.tail(1).reset_index(drop=True)
        else:
            out[name] = known.groupby(keys[name], sort=True).tail(1).reset_index(drop=True)
    return out


def play_features(
    rows: pd.DataFrame,
    events: pd.DataFrame,
    history: dict[str, pd.DataFrame],
    catalogue: pd.DataFrame,
    profiles: pd.DataFrame,
    favourites: pd.DataFrame,
    track_genres: pd.DataFrame,
    prior_plays: float,
) -> pd.DataFrame:
    """:data:`FEATURE_COLUMNS` for each row, with ``play_id`` first; rows' order kept.

    ``rows``: :data:`ROW_COLUMNS` (the plays to score and the earlier plays of their
    sessions; ``skipped`` of a play is read only by *later* plays of its session).
    ``events``: the sessions' events (``session_id``, ``timestamp``), any type.
    ``history``: :func:`history_tables` (or a :func:`snapshot`); ``catalogue``:
    :func:`catalogue_table`; ``profiles``: :func:`profile_table`; ``favourites``:
    :func:`favourite_pairs`. Unknown listeners or tracks get NaN (CatBoost's missing
    value), listeners and tracks without history get count 0 and the prior rate.
    """
    con = duckdb_connection()
    con.register("rows_in", rows[ROW_COLUMNS].assign(row_order=np.arange(len(rows))))
    con.register(
        "events",
        events.loc[events["session_id"].notna(), ["session_id", "timestamp"]].rename(
            columns={"timestamp": "ts"}
        ),
    )
    for name, frame in history.items():
        con.register(f"h_{name}", frame)
    con.register("catalogue", catalogue)
    con.register("profiles", profiles)
    con.register("favourites", favourites)
    con.register("track_genres", track_genres[["track_id", "genre"]])
    m = float(prior_plays)
    dist_hist = " + ".join(
        f"POWER(c.t_{d} - hu.s_{d} / NULLIF(hu.full_n, 0), 2)" for d in TASTE_DIMS
    )
    dist_fav = " + ".join(f"POWER(c.t_{d} - p.f_{d}, 2)" for d in TASTE_DIMS)
    audio = ", ".join(f"c.{a}" for a in AUDIO_FEATURES)
    sql = f"""
WITH r AS (SELECT * FROM rows_in),
g AS (
    SELECT r.week_start, COALESCE(h.plays, 0) AS plays, COALESCE(h.skips, 0) AS skips
    FROM (SELECT DISTINCT week_start FROM r) r ASOF LEFT JOIN h_overall h
      ON r.week_start >= h.valid_from
),
prior AS (
    SELECT week_start,
           CASE WHEN plays > 0 THEN skips / plays ELSE {EMPTY_HISTORY_SKIP_RATE} END AS rate
    FROM g
),
sess AS (
    SELECT play_id,
           COUNT(*) OVER w AS session_position,
           COALESCE(SUM(skipped) OVER w, 0) AS session_skips_so_far,
           MAX(epoch_us(ts) * 2 + skipped) OVER w AS prev_code,
           list_reverse_sort(LIST(epoch_us(ts) * 2 + skipped) OVER w) AS codes,
           MAX(CASE WHEN skipped = 1 THEN epoch_us(ts) END) OVER w AS last_skip_us,
           COUNT(*) OVER wt AS session_track_repeats
    FROM r
    WINDOW w AS (PARTITION BY session_id ORDER BY ts
                 RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL '0.000001' SECOND PRECEDING),
           wt AS (PARTITION BY session_id, track_id ORDER BY ts
                  RANGE BETWEEN UNBOUNDED PRECEDING AND INTERVAL '0.000001' SECOND PRECEDING)
),
prev_event AS (
    SELECT r.play_id, r.ts - e.ts AS since_prev
    FROM r ASOF LEFT JOIN events e ON r.session_id = e.session_id AND r.ts > e.ts
),
sess_start AS (SELECT session_id, MIN(ts) AS start_ts FROM events GROUP BY 1),
genres AS (
    SELECT r.play_id, MAX(CASE WHEN f.genre IS NOT NULL THEN 1 ELSE 0 END) AS fav_match,
           MAX(COALESCE(ug.plays, 0)) AS genre_plays_max,
           SUM(COALESCE(ug.plays, 0)) AS genre_plays, SUM(COALESCE(ug.skips, 0)) AS genre_skips
    FROM r JOIN track_genres tg ON r.track_id = tg.track_id
    LEFT JOIN favourites f ON f.user_id = r.user_id AND f.genre = tg.genre
    ASOF LEFT JOIN h_user_genre ug
      ON ug.user_id = r.user_id AND ug.genre = tg.genre AND r.week_start >= ug.valid_from
    GROUP BY r.play_id
),
joined AS (
    SELECT r.row_order, r.play_id, r.user_id, r.ts, r.week_start, pr.rate AS prior_rate,
           COALESCE(hu.plays, 0) AS u_plays, COALESCE(hu.skips, 0) AS u_skips,
           COALESCE(hu.likes, 0) AS u_likes,
           CASE WHEN hu.valid_from = r.week_start THEN hu.week_plays ELSE 0 END AS u_wplays,
           CASE WHEN hu.valid_from = r.week_start THEN hu.week_skips ELSE 0 END AS u_wskips,
           COALESCE(hua.plays, 0) AS ua_plays, COALESCE(hua.skips, 0) AS ua_skips,
           COALESCE(hut.plays, 0) AS ut_plays, COALESCE(hut.skips, 0) AS ut_skips,
           COALESCE(ht.plays, 0) AS t_plays, COALESCE(ht.skips, 0) AS t_skips,
           COALESCE(ht.likes, 0) AS t_likes,
           CASE WHEN ht.valid_from = r.week_start THEN ht.week_plays ELSE 0 END AS t_wplays,
           CASE WHEN ht.valid_from = r.week_start THEN ht.week_skips ELSE 0 END AS t_wskips,
           SQRT({dist_hist}) AS taste_distance,
           COALESCE(ha.plays, 0) AS a_plays, COALESCE(ha.skips, 0) AS a_skips,
           CASE WHEN ha.valid_from = r.week_start THEN ha.week_plays ELSE 0 END AS a_wplays,
           CASE WHEN ha.valid_from = r.week_start THEN ha.week_skips ELSE 0 END AS a_wskips,
           SQRT({dist_fav}) AS favourite_distance,
           p.premium, {audio}, c.duration_s,
           date_diff('day', c.release_date, r.ts) AS track_age_days,
           c.track_id IS NOT NULL AS known_track
    FROM r
    LEFT JOIN prior pr ON pr.week_start = r.week_start
    ASOF LEFT JOIN h_user hu ON hu.user_id = r.user_id AND r.week_start >= hu.valid_from
    ASOF LEFT JOIN h_track ht ON ht.track_id = r.track_id AND r.week_start >= ht.valid_from
    LEFT JOIN catalogue c ON c.track_id = r.track_id
    ASOF LEFT JOIN h_artist ha ON ha.artist_id = c.artist_id AND r.week_start >= ha.valid_from
    ASOF LEFT JOIN h_user_artist hua ON hua.user_id = r.user_id AND hua.artist_id = c.artist_id
      AND r.week_start >= hua.valid_from
    ASOF LEFT JOIN h_user_track hut ON hut.user_id = r.user_id AND hut.track_id = r.track_id
      AND r.week_start >= hut.valid_from
    LEFT JOIN profiles p ON p.user_id = r.user_id
)
SELECT j.play_id,
       CASE WHEN j.user_id IS NULL THEN NULL ELSE j.u_plays END AS user_plays,
       CASE WHEN j.user_id IS NULL THEN NULL
            ELSE (j.u_skips + {m} * j.prior_rate) / (j.u_plays + {m}) END AS user_skip_rate,
       CASE WHEN j.user_id IS NULL THEN NULL ELSE j.u_likes END AS user_likes,
       CASE WHEN j.user_id IS NULL THEN NULL
            ELSE j.u_likes / (j.u_plays + 1.0) END AS user_like_rate,
       j.t_plays AS track_plays,
       (j.t_skips + {m} * j.prior_rate) / (j.t_plays + {m}) AS track_skip_rate,
       j.t_likes AS track_likes,
       j.t_likes / (j.t_plays + 1.0) AS track_like_rate,
       j.t_wplays AS track_plays_last_week,
       (j.t_wskips + {m} * (j.t_skips + {m} * j.prior_rate) / (j.t_plays + {m}))
           / (j.t_wplays + {m}) AS track_skip_rate_last_week,
       CASE WHEN j.user_id IS NULL THEN NULL
            ELSE COALESCE(gn.genre_plays_max, 0) / GREATEST(j.u_plays, 1.0) END AS genre_affinity,
       CASE WHEN j.user_id IS NULL THEN NULL
            ELSE (COALESCE(gn.genre_skips, 0)
                  + {m} * (j.u_skips + {m} * j.prior_rate) / (j.u_plays + {m}))
                 / (COALESCE(gn.genre_plays, 0) + {m}) END AS user_genre_skip_rate,
       j.taste_distance,
       j.a_plays AS artist_plays,
       (j.a_skips + {m} * j.prior_rate) / (j.a_plays + {m}) AS artist_skip_rate,
       j.a_wplays AS artist_plays_last_week,
       (j.a_wskips + {m} * (j.a_skips + {m} * j.prior_rate) / (j.a_plays + {m}))
           / (j.a_wplays + {m}) AS artist_skip_rate_last_week,
       CASE WHEN j.user_id IS NULL THEN NULL ELSE j.u_wplays END AS user_plays_last_week,
       CASE WHEN j.user_id IS NULL THEN NULL
            ELSE (j.u_wskips + {m} * (j.u_skips + {m} * j.prior_rate) / (j.u_plays + {m}))
                 / (j.u_wplays + {m}) END AS user_skip_rate_last_week,
       CASE WHEN j.user_id IS NULL THEN NULL ELSE j.ua_plays END AS user_artist_plays,
       CASE WHEN j.user_id IS NULL THEN NULL
            ELSE (j.ua_skips + {m} * (j.u_skips + {m} * j.prior_rate) / (j.u_plays + {m}))
                 / (j.ua_plays + {m}) END AS user_artist_skip_rate,
       CASE WHEN j.user_id IS NULL THEN NULL ELSE j.ut_plays END AS user_track_plays,
       CASE WHEN j.user_id IS NULL THEN NULL
            ELSE (j.ut_skips + {m} * (j.u_skips + {m} * j.prior_rate) / (j.u_plays + {m}))
                 / (j.ut_plays + {m}) END AS user_track_skip_rate,
       CASE WHEN j.user_id IS NULL OR NOT j.known_track THEN NULL
            ELSE COALESCE(gn.fav_match, 0) END AS favourite_genre_match,
       j.premium, j.favourite_distance,
       {", ".join(f"j.{a}" for a in AUDIO_FEATURES)}, j.duration_s, j.track_age_days,
       s.session_position, s.session_skips_so_far,
       CASE WHEN s.session_position > 0 THEN s.session_skips_so_far / s.session_position END
           AS session_skip_share,
       CASE WHEN s.prev_code IS NULL THEN NULL ELSE s.prev_code % 2 END AS previous_skipped,
       epoch(pe.since_prev) AS seconds_since_previous_event,
       epoch(j.ts - st.start_ts) AS seconds_since_session_start,
       COALESCE(s.codes[2] % 2, -1) AS previous_skipped_2,
       COALESCE(s.codes[3] % 2, -1) AS previous_skipped_3,
       list_position(list_transform(s.codes, lambda x: x % 2), 1) - 1 AS plays_since_last_skip,
       (epoch_us(j.ts) - s.last_skip_us) / 1e6 AS seconds_since_last_skip,
       s.session_track_repeats
FROM joined j
JOIN sess s USING (play_id)
LEFT JOIN prev_event pe USING (play_id)
LEFT JOIN rows_in ri USING (play_id)
LEFT JOIN sess_start st ON st.session_id = ri.session_id
LEFT JOIN genres gn USING (play_id)
ORDER BY j.row_order
"""
    out = con.sql(sql).df()
    con.close()
    out[FEATURE_COLUMNS] = out[FEATURE_COLUMNS].astype("float64")
    out["play_id"] = out["play_id"].astype("int64")
    return out[["play_id", *FEATURE_COLUMNS]].reset_index(drop=True)


def build_features(
    targets: pd.DataFrame,
    sessions: pd.DataFrame,
    tracks: pd.DataFrame,
    track_genres: pd.DataFrame,
    users: pd.DataFrame,
    prior_plays: float,
    weeks: list[pd.Timestamp] | None = None,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """The modelling table (targets + features, target order) and the history tables.

    ``targets`` must be all plays (:func:`pozytywka.skips.target.play_targets`);
    the history is built from them, so the same call serves training and the
    snapshot the service scores with. ``play_id`` must be unique. ``weeks``: keep
    only the plays of these week starts in the table (None: all). Their features
    are the same as over all plays (history tables always use every play; the
    session features of a kept play see its whole session), computed for far
    fewer rows: the pipeline keeps only the weeks its models fit and score.
    """
    history = history_tables(targets, sessions, track_genres, tracks)
    if weeks is not None:
        keep = targets["week_start"].isin(pd.DatetimeIndex(weeks).astype("datetime64[us]"))
        kept_sessions = targets.loc[keep, "session_id"].dropna().unique()
        targets = targets[targets["session_id"].isin(kept_sessions)]
        sessions = sessions[sessions["session_id"].isin(kept_sessions)]
    features = play_features(
        targets,
        sessions,
        history,
        catalogue_table(tracks),
        profile_table(users, track_genres, tracks),
        favourite_pairs(users),
        track_genres,
        prior_plays,
    )
    table = targets.reset_index(drop=True).join(features.drop(columns="play_id"))
    if weeks is not None:
        table = table[table["week_start"].isin(pd.DatetimeIndex(weeks).astype("datetime64[us]"))]
    return table.reset_index(drop=True), history


_US_PER_DAY = 86_400_000_000


def epoch_us(ts: pd.Timestamp) -> int:
    """Microseconds since the epoch of a naive timestamp (NaT: None)."""
    return None if pd.isna(ts) else int(pd.Timestamp(ts).value // 1000)


def _counts_by(
    frame: pd.DataFrame, key: list[str], columns: list[str], week: pd.Timestamp | None = None
) -> dict:
    """``key`` value(s) -> the int ``columns`` of a snapshot table; with ``week``, the
    ``week_*`` columns count only on rows with ``valid_from == week`` (else 0), as the SQL."""
    values = frame[columns].to_numpy(dtype=np.int64).copy()
    if week is not None:
        stale = (frame["valid_from"] != week).to_numpy()
        for i, col in enumerate(columns):
            if col.startswith("week_"):
                values[stale, i] = 0
    keys = zip(*(frame[k] for k in key), strict=True) if len(key) > 1 else frame[key[0]]
    return {k: tuple(row) for k, row in zip(keys, values.tolist(), strict=True)}


class PlayLookup:
    """The features of one play of week ``week``, from indexed tables: the serving path.

    :func:`play_features` is a query over whole tables (the offline path); scoring a
    single live play with it costs a DuckDB query per request. This class holds the
    same inputs (the history :func:`snapshot` at ``week``, :func:`catalogue_table`,
    :func:`profile_table`, :func:`favourite_pairs`, track genres) as dicts keyed by
    listener, track and (listener, genre), built once, and computes one play's
    :data:`FEATURE_COLUMNS` by the same formulas in plain Python (about 0.1 ms).
    Every formula mirrors a column of :func:`play_features`' SQL (NULL -> NaN, the
    same COALESCE defaults and the same order of operations); the parity tests
    (``tests/test_skips_online.py``) check the two paths agree on every play of a
    week. Change one, change both.
    """

    def __init__(
        self,
        history: dict[str, pd.DataFrame],
        week: pd.Timestamp,
        catalogue: pd.DataFrame,
        profiles: pd.DataFrame,
        favourites: pd.DataFrame,
        track_genres: pd.DataFrame,
        prior_plays: float,
    ) -> None:
        self.week = pd.Timestamp(week)
        snap = snapshot(history, self.week)
        self.prior_plays = float(prior_plays)
        overall = snap["overall"]
        plays = int(overall["plays"].iloc[-1]) if len(overall) else 0
        skips = int(overall["skips"].iloc[-1]) if len(overall) else 0
        self.prior_rate = skips / plays if plays > 0 else EMPTY_HISTORY_SKIP_RATE
        u = snap["user"]
        s_cols = u[[f"s_{d}" for d in TASTE_DIMS]].to_numpy(dtype=float)
        fresh = (u["valid_from"] == self.week).to_numpy()
        u_wplays = np.where(fresh, u["week_plays"].to_numpy(dtype=np.int64), 0)
        u_wskips = np.where(fresh, u["week_skips"].to_numpy(dtype=np.int64), 0)
        self.users = {
            uid: (int(p), int(s), int(lk), int(fn), s_cols[i], int(u_wplays[i]), int(u_wskips[i]))
            for i, (uid, p, s, lk, fn) in enumerate(
                zip(
                    u["user_id"],
                    u["plays"],
                    u["skips"],
                    u["likes"],
                    u["full_n"],
                    strict=True,
                )
            )
        }
        week_cols = ["plays", "skips", "week_plays", "week_skips"]
        self.tracks = _counts_by(snap["track"], ["track_id"], ["likes", *week_cols], self.week)
        self.artists = _counts_by(snap["artist"], ["artist_id"], week_cols, self.week)
        self.user_genre = _counts_by(snap["user_genre"], ["user_id", "genre"], ["plays", "skips"])
        self.user_artist = _counts_by(
            snap["user_artist"], ["user_id", "artist_id"], ["plays", "skips"]
        )
        self.user_track = _counts_by(
            snap["user_track"], ["user_id", "track_id"], ["plays", "skips"]
        )
        audio = catalogue[list(AUDIO_FEATURES)].to_numpy(dtype=float)
        taste = catalogue[[f"t_{d}" for d in TASTE_DIMS]].to_numpy(dtype=float)
        self.catalogue = {
            tid: (audio[i], float(dur), epoch_us(rel), taste[i], aid)
            for i, (tid, dur, rel, aid) in enumerate(
                zip(
                    catalogue["track_id"],
                    catalogue["duration_s"],
                    catalogue["release_date"],
                    catalogue["artist_id"],
                    strict=True,
                )
            )
        }
        centroid = profiles[[f"f_{d}" for d in TASTE_DIMS]].to_numpy(dtype=float)
        self.profiles = {
            uid: (float(prem), centroid[i])
            for i, (uid, prem) in enumerate(
                zip(profiles["user_id"], profiles["premium"], strict=True)
            )
        }
        self.favourites: dict[str, set[str]] = {}
        for uid, g in zip(favourites["user_id"], favourites["genre"], strict=True):
            self.favourites.setdefault(uid, set()).add(g)
        self.genres: dict[str, list[str]] = {}  # duplicates kept, as the SQL join counts them
        for tid, g in zip(track_genres["track_id"], track_genres["genre"], strict=True):
            self.genres.setdefault(tid, []).append(g)

    def features(
        self,
        user_id: str | None,
        track_id: str,
        ts: pd.Timestamp,
        earlier_plays: list[tuple[int, int, str]],
        event_times: list[int],
    ) -> dict[str, float]:
        """:data:`FEATURE_COLUMNS` of the play of ``user_id`` (None: unknown) of ``track_id``
        starting at ``ts`` (naive UTC, in ``week``).

        ``earlier_plays``: ``(start µs since the epoch, skipped 0/1, track_id)`` of the
        session's plays strictly before ``ts``; ``event_times``: µs of the session's events (any
        type) strictly before ``ts``. Missing values are NaN, as in :func:`play_features`.
        """
        nan = float("nan")
        m = self.prior_plays
        prior = self.prior_rate
        now = epoch_us(ts)
        known_user = user_id is not None
        u = self.users.get(user_id) if known_user else None
        u_plays, u_skips, u_likes = (u[0], u[1], u[2]) if u else (0, 0, 0)
        u_wplays, u_wskips = (u[5], u[6]) if u else (0, 0)
        t_likes, t_plays, t_skips, t_wplays, t_wskips = self.tracks.get(track_id, (0,) * 5)
        c = self.catalogue.get(track_id)
        p = self.profiles.get(user_id) if known_user else None
        favs = self.favourites.get(user_id, ()) if known_user else ()
        tgs = self.genres.get(track_id, [])
        fav_match = max((1 if g in favs else 0 for g in tgs), default=0)
        g_counts = [self.user_genre.get((user_id, g), (0, 0)) for g in tgs] if known_user else []
        g_plays_max = max((x[0] for x in g_counts), default=0)
        g_plays = sum(x[0] for x in g_counts)
        g_skips = sum(x[1] for x in g_counts)
        u_rate = (u_skips + m * prior) / (u_plays + m)
        t_rate = (t_skips + m * prior) / (t_plays + m)
        if c is not None and u is not None and u[3] != 0:
            diff = c[3] - u[4] / u[3]
            taste_distance = float(np.sqrt(np.sum(diff * diff)))
        else:
            taste_distance = nan
        artist = c[4] if c is not None else None
        a_plays, a_skips, a_wplays, a_wskips = self.artists.get(artist, (0,) * 4)
        if c is not None and p is not None:
            diff = c[3] - p[1]
            favourite_distance = float(np.sqrt(np.sum(diff * diff)))
        else:
            favourite_distance = nan
        ua_plays, ua_skips = self.user_artist.get((user_id, artist), (0, 0))
        ut_plays, ut_skips = self.user_track.get((user_id, track_id), (0, 0))
        out = {
            "user_plays": u_plays if known_user else nan,
            "user_skip_rate": u_rate if known_user else nan,
            "user_likes": u_likes if known_user else nan,
            "user_like_rate": u_likes / (u_plays + 1.0) if known_user else nan,
            "track_plays": t_plays,
            "track_skip_rate": t_rate,
            "track_likes": t_likes,
            "track_like_rate": t_likes / (t_plays + 1.0),
            "track_plays_last_week": t_wplays,
            "track_skip_rate_last_week": (t_wskips + m * (t_skips + m * prior) / (t_plays + m))
            / (t_wplays + m),
            "genre_affinity": g_plays_max / max(u_plays, 1.0) if known_user else nan,
            "user_genre_skip_rate": (g_skips + m * (u_skips + m * prior) / (u_plays + m))
            / (g_plays + m)
            if known_user
            else nan,
            "taste_distance": taste_distance,
            "artist_plays": a_plays,
            "artist_skip_rate": (a_skips + m * prior) / (a_plays + m),
            "artist_plays_last_week": a_wplays,
            "artist_skip_rate_last_week": (a_wskips + m * (a_skips + m * prior) / (a_plays + m))
            / (a_wplays + m),
            "user_plays_last_week": u_wplays if known_user else nan,
            "user_skip_rate_last_week": (u_wskips + m * (u_skips + m * prior) / (u_plays + m))
            / (u_wplays + m)
            if known_user
            else nan,
            "user_artist_plays": ua_plays if known_user else nan,
            "user_artist_skip_rate": (ua_skips + m * (u_skips + m * prior) / (u_plays + m))
            / (ua_plays + m)
            if known_user
            else nan,
            "user_track_plays": ut_plays if known_user else nan,
            "user_track_skip_rate": (ut_skips + m * (u_skips + m * prior) / (u_plays + m))
            / (ut_plays + m)
            if known_user
            else nan,
            "favourite_genre_match": fav_match if known_user and c is not None else nan,
            "premium": p[0] if p is not None else nan,
            "favourite_distance": favourite_distance,
        }
        for i, col in enumerate(AUDIO_FEATURES):
            out[col] = c[0][i] if c is not None else nan
        out["duration_s"] = c[1] if c is not None else nan
        release = c[2] if c is not None else None
        out["track_age_days"] = (
            nan if release is None else now // _US_PER_DAY - release // _US_PER_DAY
        )
        position = len(earlier_plays)
        skips_so_far = sum(s for _, s, _ in earlier_plays)
        # newest first, ties skip first: the SQL's list_reverse_sort of time * 2 + skipped
        codes = sorted((t * 2 + s for t, s, _ in earlier_plays), reverse=True)
        out["session_position"] = position
        out["session_skips_so_far"] = skips_so_far
        out["session_skip_share"] = skips_so_far / position if position > 0 else nan
        out["previous_skipped"] = codes[0] % 2 if codes else nan
        out["previous_skipped_2"] = codes[1] % 2 if len(codes) > 1 else -1
        out["previous_skipped_3"] = codes[2] % 2 if len(codes) > 2 else -1
        back = [i for i, c in enumerate(codes) if c % 2 == 1]
        out["plays_since_last_skip"] = back[0] if back else nan
        skip_starts = [t for t, s, _ in earlier_plays if s == 1]
        out["seconds_since_last_skip"] = (now - max(skip_starts)) / 1e6 if skip_starts else nan
        out["session_track_repeats"] = sum(1 for _, _, k in earlier_plays if k == track_id)
        out["seconds_since_previous_event"] = (now - max(event_times)) / 1e6 if event_times else nan
        out["seconds_since_session_start"] = (now - min([now, *event_times])) / 1e6
        return {k: float(out[k]) for k in FEATURE_COLUMNS}
