"""Per-user outcomes of an A/B week from its events: plays, full plays, skips, likes, sessions.

Both modes end here: the simulation's events (the behaviour model's week)
and replay's events (a real dump's held-out week). Full plays follow
DESIGN §4, decided on *all* of a session's events (a served track skipped
only after an organic play in between is still a full play), and only then
are the events the experiment is about kept (``counted``): playlist plays in
the simulation, plays of the user's served tracks in replay.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from ..plays import full_plays

OUTCOME_COLUMNS = ["user_id", "arm", "plays", "full_plays", "skips", "likes", "sessions"]
_COUNTS = ["plays", "full_plays", "skips", "likes", "sessions"]


def mark_full_plays(events: pd.DataFrame) -> pd.Series:
    """True for each ``play`` event that is a full play (DESIGN §4), else False.

    The rule is the project's one, :func:`pozytywka.plays.full_plays` (the SQL
    the features stage uses), applied to these events: plays that tie on
    session, track and timestamp are judged together there, so its answer is
    joined back to each play event on those three keys. Plays without a
    session, track or timestamp cannot be judged and count as not full.
    """
    flags = pd.Series(False, index=events.index, dtype=bool)
    if events.empty:
        return flags
    cols = ["session_id", "user_id", "track_id", "event_type", "timestamp"]
    sessions = events[cols].copy()
    for c in ("session_id", "user_id", "track_id", "event_type"):
        sessions[c] = sessions[c].astype(object).where(sessions[c].notna(), None)
    sessions["timestamp"] = pd.to_datetime(sessions["timestamp"]).astype("datetime64[us]")
    judged = full_plays(sessions)
    judged = judged.drop_duplicates(["session_id", "track_id", "ts"])
    judged = judged.rename(columns={"ts": "timestamp"})[
        ["session_id", "track_id", "timestamp", "is_full"]
    ]
    judged["timestamp"] = pd.to_datetime(judged["timestamp"]).astype("datetime64[us]")
    is_play = sessions["event_type"].eq("play").to_numpy()
    plays = sessions.loc[is_play, ["session_id", "track_id", "timestamp"]].reset_index()
    for c in ("session_id", "track_id"):
        plays[c] = plays[c].astype(object)
        judged[c] = judged[c].astype(object)
    plays = plays.merge(judged, on=["session_id", "track_id", "timestamp"], how="left")
    full_index = plays.loc[plays["is_full"].fillna(False).astype(bool), plays.columns[0]]
    flags.loc[full_index.to_numpy()] = True
    return flags


def user_outcomes(
    events: pd.DataFrame, assignment: pd.DataFrame, counted: ArrayLike | None = None
) -> pd.DataFrame:
    """One row per assigned user (sorted by ``user_id``) with their counts.

    ``counted`` (booleans, one per row of ``events``, by position) selects the
    events the experiment measures; full plays are decided on all events
    first. Users with no counted events get zeros: they were in the
    experiment all the same. Events of users not in ``assignment`` are ignored.
    ``sessions``: the user's sessions with a counted play (the denominator of plays
    per session; a live session is one served request).
    """
    events = events.reset_index(drop=True)
    full = mark_full_plays(events)
    keep = pd.Series(
        np.ones(len(events), dtype=bool) if counted is None else np.asarray(counted, dtype=bool),
        index=events.index,
    )
    ev = events.loc[keep, ["user_id", "event_type", "session_id"]].copy()
    ev["user_id"] = ev["user_id"].astype(str)
    ev["plays"] = ev["event_type"].eq("play").astype("int64")
    ev["full_plays"] = full.loc[keep].astype("int64")
    ev["skips"] = ev["event_type"].eq("skip").astype("int64")
    ev["likes"] = ev["event_type"].eq("like").astype("int64")
    # the first counted play of each (user, session) marks a session with a play
    first_play = ~ev.loc[ev["plays"] == 1].duplicated(["user_id", "session_id"])
    ev["sessions"] = 0
    ev.loc[first_play.index[first_play.to_numpy()], "sessions"] = 1
    ev = ev.drop(columns="session_id")
    per_user = ev.groupby("user_id", sort=True)[_COUNTS].sum()
    out = assignment[["user_id", "arm"]].copy()
    out["user_id"] = out["user_id"].astype(str)
    out = out.merge(per_user, left_on="user_id", right_index=True, how="left")
    out[_COUNTS] = out[_COUNTS].fillna(0).astype("int64")
    return out.sort_values("user_id", kind="mergesort").reset_index(drop=True)[OUTCOME_COLUMNS]


def daily_outcomes(
    events: pd.DataFrame,
    assignment: pd.DataFrame,
    counted: ArrayLike | None,
    week_start: pd.Timestamp,
    days: Sequence[int] = range(1, 8),
) -> dict[int, pd.DataFrame]:
    """Outcomes as the week's days accrue: day d holds the events before day d ends.

    Full plays are re-decided on each day's data, as a monitor that looked at
    the experiment on that day would have seen them.
    """
    ts = pd.to_datetime(events["timestamp"]).to_numpy()
    counted = None if counted is None else np.asarray(counted, dtype=bool)
    out = {}
    for d in days:
        upto = ts < np.datetime64(pd.Timestamp(week_start) + pd.Timedelta(days=d))
        sub = events.loc[upto]
        out[d] = user_outcomes(sub, assignment, None if counted is None else counted[upto])
    return out
