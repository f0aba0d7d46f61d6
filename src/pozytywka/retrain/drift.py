"""What moved in the data: the newest complete week against the weeks before it.

Per complete week (DESIGN §1: ISO weeks, only weeks the log fully covers):

- ``events``: session rows of the week (every event type, ads included);
- ``active_users``: distinct users with any event;
- ``new_tracks``: tracks played for the first time in the dump that week;
- ``skip_rate``: skips / plays;
- ``genre_share_<genre>``: the genre's share of the week's plays, a play of a
  track counted once per genre the track has (so shares of a week sum to 1).

The newest week is compared with the ``lookback_weeks`` weeks before it: a count or
rate is flagged when it lies outside their [min, max] by more than ``tolerance``
(relative to the nearer bound), a genre share when it lies outside their range by
more than ``share_tolerance`` (absolute). Genres shown are the
``top_genres`` largest of the newest week, plus any flagged one.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .. import duck
from ..config import DriftParams

MEASURES = ("events", "active_users", "new_tracks", "skip_rate")


def weekly_stats(
    sessions_path: str, weekly_popularity: pd.DataFrame, track_genres: pd.DataFrame
) -> pd.DataFrame:
    """One row per complete week: :data:`MEASURES` and ``genre_share_<genre>`` columns.

    ``sessions_path``: the interim sessions Parquet (``timestamp``, ``user_id``,
    ``track_id``, ``event_type``); complete weeks are those of ``weekly_popularity``.
    """
    con = duck.connect()
    try:
        counts = con.execute(
            """
            SELECT CAST(date_trunc('week', timestamp) AS TIMESTAMP) AS week_start,
                   count(*) AS events,
                   count(DISTINCT user_id) AS active_users,
                   count(*) FILTER (WHERE event_type = 'play') AS plays,
                   count(*) FILTER (WHERE event_type = 'skip') AS skips
            FROM read_parquet(?)
            GROUP BY 1
            """,
            [sessions_path],
        ).df()
    finally:
        con.close()
    weeks = pd.Index(sorted(pd.to_datetime(weekly_popularity["week_start"]).unique()))
    counts["week_start"] = pd.to_datetime(counts["week_start"]).astype("datetime64[us]")
    out = counts.set_index("week_start").reindex(weeks.astype("datetime64[us]"))
    out.index.name = "week_start"
    played = weekly_popularity.loc[weekly_popularity["plays"] > 0, ["week_start", "track_id"]]
    first = played.groupby("track_id")["week_start"].min()
    out["new_tracks"] = first.value_counts().reindex(out.index, fill_value=0).astype(int)
    out["skip_rate"] = out["skips"] / out["plays"].where(out["plays"] > 0)
    plays = weekly_popularity[["week_start", "track_id", "plays"]].merge(
        track_genres, on="track_id"
    )
    by_genre = plays.pivot_table(
        index="week_start", columns="genre", values="plays", aggfunc="sum", fill_value=0
    )
    shares = by_genre.div(by_genre.sum(axis=1).where(lambda s: s > 0), axis=0)
    shares = shares.reindex(out.index).fillna(0.0)
    shares.columns = [f"genre_share_{g}" for g in shares.columns]
    out = out[list(MEASURES)].join(shares)
    return out.reset_index()


def _flag(value: float, low: float, high: float, margin: float) -> bool:
    return bool(value < low - margin or value > high + margin)


def compare_last_week(stats: pd.DataFrame, params: DriftParams) -> dict[str, Any]:
    """The newest week vs the ``lookback_weeks`` before it (see the module docstring).

    Returns ``{"week_start", "previous_weeks", "measures": {name: {value, min, max,
    flagged}}, "genres": {...}, "flags": [names]}``; ``previous_weeks`` 0 (a dump
    with one complete week) compares nothing and flags nothing.
    """
    stats = stats.sort_values("week_start").reset_index(drop=True)
    last = stats.iloc[-1]
    before = stats.iloc[max(0, len(stats) - 1 - params.lookback_weeks) : len(stats) - 1]
    result: dict[str, Any] = {
        "week_start": str(pd.Timestamp(last["week_start"]).date()),
        "previous_weeks": len(before),
        "lookback_weeks": params.lookback_weeks,
        "measures": {},
        "genres": {},
        "flags": [],
    }
    share_cols = [c for c in stats.columns if c.startswith("genre_share_")]
    top = last[share_cols].astype(float).sort_values(ascending=False, kind="stable")
    shown = list(top.index[: params.top_genres])
    for col in list(MEASURES) + share_cols:
        value = float(last[col])
        entry: dict[str, Any] = {"value": value}
        flagged = False
        if len(before):
            low, high = float(before[col].min()), float(before[col].max())
            if col.startswith("genre_share_"):
                margin = params.share_tolerance
            else:
                margin = params.tolerance * (abs(low) if value < low else abs(high))
            flagged = _flag(value, low, high, margin)
            entry.update(min=low, max=high)
        entry["flagged"] = flagged
        if col in MEASURES:
            result["measures"][col] = entry
        elif col in shown or flagged:
            result["genres"][col.removeprefix("genre_share_")] = entry
        if flagged:
            result["flags"].append(col)
    return result
