"""The realism statistics: how a dump's listening looks, one pure function per statistic.

Every function reads a *compact log* (see :mod:`pozytywka.realism.load`):

``events``
    one row per event of the cleaned sessions table in the dump's complete weeks:
    ``user`` (int code), ``session`` (int code), ``week`` (int, 0 = the first
    complete week), ``track`` (int code, -1 when the event has no track, e.g. an
    ad), ``event`` (``play``/``skip``/``like``/``other``; ``other`` is every other
    event type: ads, premium purchases ...) and ``is_full`` (bool, True only for a
    full play by the rule of DESIGN §4 and :mod:`pozytywka.plays`).
``track_genres``
    ``track`` (int code), ``genre`` (int code; codes follow the genres' names,
    so ties broken by code are broken by name): a track's artist's genres.

"Plays" are ``play`` events. Sums are pooled over the weeks (every play counts
once) unless a docstring says "mean over weeks". Each function returns a float,
or None when the log holds nothing to measure (e.g. no plays): never NaN.
Definitions are ours (issue 21 names the statistics); docs/realism.md lists them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: The statistics, in report order: key -> (label, one-line definition).
STATISTICS: dict[str, tuple[str, str]] = {
    "events_per_listener_week": (
        "events per listener-week",
        "events of any type / (listener, week) pairs with at least one event",
    ),
    "one_off_play_share": (
        "one-off track plays",
        "share of plays whose track has no other play (by anyone) in that week",
    ),
    "top5_genre_share": (
        "top-5 genre concentration",
        "share of full plays (of tracks with a genre) in one of the week's 5 most "
        "full-played genres",
    ),
    "favourite_genre_share": (
        "favourite-genre share",
        "share of a listener's plays in week w in their 3 most-played genres of weeks < w",
    ),
    "skip_rate": ("skip rate", "share of plays that are not full plays"),
    "like_rate": ("like rate", "like events / plays"),
    "session_length": ("session length (median events)", "median events per session"),
    "repeat_share": (
        "repeat listens",
        "share of plays (after the first week) of a track the listener played in an earlier week",
    ),
    "catalogue_coverage": (
        "catalogue coverage",
        "share of the catalogue's released tracks played in a week (mean over weeks)",
    ),
    "chart_overlap": (
        "week-to-week chart overlap",
        "Jaccard of consecutive weeks' top-50 tracks by popularity (mean over week pairs)",
    ),
    "listeners_per_track": (
        "listeners per track",
        "median distinct listeners of a played track in a week",
    ),
}

TOP_GENRES = 5
FAVOURITE_GENRES = 3
CHART_SIZE = 50


def _plays(events: pd.DataFrame) -> pd.DataFrame:
    return events[events["event"] == "play"]


def _ratio(num: float, den: float) -> float | None:
    return float(num) / float(den) if den else None


def events_per_listener_week(events: pd.DataFrame) -> float | None:
    """Events of any type per listener-week with at least one event (``len / pairs``)."""
    pairs = len(events[["user", "week"]].drop_duplicates())
    return _ratio(len(events), pairs)


def one_off_play_share(events: pd.DataFrame) -> float | None:
    """Share of plays that are the only play of their track in their week (by anyone).

    A track played once in a week, by one listener, contributes one one-off play;
    a track played twice (by one listener or two) contributes none.
    """
    plays = _plays(events)
    per_track = plays.groupby(["week", "track"]).size()
    return _ratio((per_track == 1).sum(), len(plays))


def top_genre_share(
    events: pd.DataFrame, track_genres: pd.DataFrame, top: int = TOP_GENRES
) -> float | None:
    """Share of full plays of genre-tagged tracks that fall in one of the week's ``top`` genres.

    A genre's weight in a week is its tracks' full plays (a full play counts for
    every genre of its track); the week's ``top`` genres are the heaviest (ties:
    the lower genre code, i.e. the name first). A full play counts once in the
    numerator when any of its track's genres is among them. Full plays of tracks
    with no genre are left out of both sides. Pooled over weeks.
    """
    full = events.loc[(events["event"] == "play") & events["is_full"], ["week", "track"]]
    full = full.reset_index(drop=True).rename_axis("play").reset_index()
    tagged = full.merge(track_genres, on="track")
    if tagged.empty:
        return None
    weight = tagged.groupby(["week", "genre"]).size().rename("n").reset_index()
    weight = weight.sort_values(["week", "n", "genre"], ascending=[True, False, True])
    best = weight.groupby("week").head(top)[["week", "genre"]]
    hit = tagged.merge(best, on=["week", "genre"])["play"].nunique()
    return _ratio(hit, tagged["play"].nunique())


def _top_mask(counts: np.ndarray, top: int) -> np.ndarray:
    """(users, genres) bool: each row's ``top`` largest positive counts (ties: lower column)."""
    n_genres = counts.shape[1]
    score = counts.astype(np.int64) * n_genres + (n_genres - 1 - np.arange(n_genres))
    mask = np.zeros(counts.shape, dtype=bool)
    if n_genres == 0:
        return mask
    k = min(top, n_genres)
    idx = np.argpartition(-score, k - 1, axis=1)[:, :k]
    rows = np.arange(counts.shape[0])[:, None]
    mask[rows, idx] = True
    return mask & (counts > 0)


def favourite_genre_share(
    events: pd.DataFrame, track_genres: pd.DataFrame, top: int = FAVOURITE_GENRES
) -> float | None:
    """Share of a listener's plays in week w that are in their ``top`` genres of weeks < w.

    A listener's genres so far: their plays in all earlier weeks, each play
    counting for every genre of its track; the ``top`` most played (ties: the
    lower genre code). A play in week w is "in a favourite genre" when any genre
    of its track is one of those. Only plays of listeners with at least one play
    of a genre-tagged track before w count (in the denominator too, including
    their plays of untagged tracks). Pooled over weeks and listeners.
    """
    plays = _plays(events)[["user", "week", "track"]].reset_index(drop=True)
    if plays.empty or track_genres.empty:
        return None
    users = np.sort(plays["user"].unique())
    genres = np.sort(track_genres["genre"].unique())
    plays = plays.assign(
        u=np.searchsorted(users, plays["user"].to_numpy()),
        play=np.arange(len(plays)),
    )
    pg = plays.merge(track_genres, on="track")
    pg["g"] = np.searchsorted(genres, pg["genre"].to_numpy())
    counts = np.zeros((len(users), len(genres)), dtype=np.int64)
    hits = total = 0
    for week in np.sort(plays["week"].unique()):
        has_history = counts.sum(axis=1) > 0
        this = plays[plays["week"] == week]
        this_pg = pg[pg["week"] == week]
        eligible = has_history[this["u"].to_numpy()]
        total += int(eligible.sum())
        mask = _top_mask(counts, top)
        in_top = mask[this_pg["u"].to_numpy(), this_pg["g"].to_numpy()]
        hits += this_pg.loc[in_top, "play"].nunique()  # mask is empty for listeners w/o history
        np.add.at(counts, (this_pg["u"].to_numpy(), this_pg["g"].to_numpy()), 1)
    return _ratio(hits, total)


def skip_rate(events: pd.DataFrame) -> float | None:
    """Share of plays that are not full plays (DESIGN §4's rule)."""
    plays = _plays(events)
    return _ratio((~plays["is_full"]).sum(), len(plays))


def like_rate(events: pd.DataFrame) -> float | None:
    """Like events per play."""
    plays = int((events["event"] == "play").sum())
    return _ratio((events["event"] == "like").sum(), plays)


def session_length(events: pd.DataFrame) -> float | None:
    """Median number of events (any type) per session."""
    if events.empty:
        return None
    return float(events.groupby("session").size().median())


def repeat_share(events: pd.DataFrame) -> float | None:
    """Share of plays, in every week after the log's first, of a track the listener
    had played in an earlier week (any earlier week of the log)."""
    plays = _plays(events)[["user", "track", "week"]]
    first = plays.groupby(["user", "track"])["week"].transform("min")
    later = plays["week"] > plays["week"].min() if len(plays) else plays["week"] > 0
    return _ratio((plays["week"] > first)[later].sum(), later.sum())


def catalogue_coverage(events: pd.DataFrame, available: pd.Series) -> float | None:
    """Mean over weeks of (distinct tracks played that week / tracks available that week).

    ``available``: tracks of the catalogue released by the end of each week, indexed
    by week; weeks missing from it or with 0 available are left out.
    """
    played = _plays(events).groupby("week")["track"].nunique()
    avail = available.reindex(played.index)
    ok = avail.notna() & (avail > 0)
    if not ok.any():
        return None
    return float((played[ok] / avail[ok]).mean())


def weekly_chart(events: pd.DataFrame, size: int = CHART_SIZE) -> dict[int, set[int]]:
    """Each week's top ``size`` tracks by popularity (distinct listeners with a full play).

    Ties: more full plays first, then the lower track code. A week with fewer
    than ``size`` full-played tracks has a shorter chart; a week with none has none.
    """
    full = events.loc[(events["event"] == "play") & events["is_full"], ["week", "track", "user"]]
    pop = full.groupby(["week", "track"]).agg(pop=("user", "nunique"), full=("user", "size"))
    pop = pop.reset_index().sort_values(
        ["week", "pop", "full", "track"], ascending=[True, False, False, True]
    )
    top = pop.groupby("week").head(size)
    return {int(w): set(g["track"].tolist()) for w, g in top.groupby("week")}


def chart_overlap(events: pd.DataFrame, size: int = CHART_SIZE) -> float | None:
    """Mean Jaccard similarity of the charts (:func:`weekly_chart`) of weeks w and w+1,
    over the pairs of consecutive weeks that both have a chart."""
    charts = weekly_chart(events, size)
    values = [
        len(charts[w] & charts[w + 1]) / len(charts[w] | charts[w + 1])
        for w in sorted(charts)
        if w + 1 in charts
    ]
    return float(np.mean(values)) if values else None


def listeners_per_track(events: pd.DataFrame) -> float | None:
    """Median over (week, track) pairs with a play of the distinct listeners who played it."""
    plays = _plays(events)
    if plays.empty:
        return None
    return float(plays.groupby(["week", "track"])["user"].nunique().median())


def plays_per_track_week(events: pd.DataFrame, available: pd.Series) -> float | None:
    """Plays / (available catalogue tracks summed over the weeks): the dump's *scale*.

    Not a realism statistic but what several of them follow (one-off plays, coverage,
    listeners per track, chart overlap): the mean plays a catalogue track gets in a week.
    """
    weeks = events["week"].unique()
    return _ratio((events["event"] == "play").sum(), available.reindex(weeks).fillna(0).sum())


def all_statistics(
    events: pd.DataFrame, track_genres: pd.DataFrame, available: pd.Series
) -> dict[str, float | None]:
    """Every statistic of :data:`STATISTICS` for one compact log, in that order."""
    return {
        "events_per_listener_week": events_per_listener_week(events),
        "one_off_play_share": one_off_play_share(events),
        "top5_genre_share": top_genre_share(events, track_genres),
        "favourite_genre_share": favourite_genre_share(events, track_genres),
        "skip_rate": skip_rate(events),
        "like_rate": like_rate(events),
        "session_length": session_length(events),
        "repeat_share": repeat_share(events),
        "catalogue_coverage": catalogue_coverage(events, available),
        "chart_overlap": chart_overlap(events),
        "listeners_per_track": listeners_per_track(events),
    }
