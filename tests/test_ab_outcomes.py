"""Per-user A/B outcomes from events: full plays, counted events, replay scoring."""

from __future__ import annotations

import pandas as pd

from ab_fakes import replay_world
from pozytywka.config import PlaylistParams
from pozytywka.experiment.outcomes import (
    OUTCOME_COLUMNS,
    daily_outcomes,
    mark_full_plays,
    user_outcomes,
)
from pozytywka.experiment.replay import on_served_tracks, replay_documents, week_events

T0 = pd.Timestamp("2024-07-29 10:00:00")


def _ev(rows):
    """rows: (user, session, seconds after T0, track, event)."""
    return pd.DataFrame(
        [(u, s, T0 + pd.Timedelta(seconds=t), tr, e) for u, s, t, tr, e in rows],
        columns=["user_id", "session_id", "timestamp", "track_id", "event_type"],
    )


def test_full_play_definition_by_hand():
    ev = _ev(
        [
            ("u1", "s1", 0, "x", "play"),  # skipped before the next play: not full
            ("u1", "s1", 5, "x", "skip"),
            ("u1", "s1", 10, "y", "play"),  # a skip of another track does not count: full
            ("u1", "s1", 12, "z", "skip"),
            ("u1", "s1", 20, "x", "play"),  # next play comes first, skip after it: full
            ("u1", "s1", 30, "w", "play"),  # last play, liked: full
            ("u1", "s1", 31, "w", "like"),
            ("u1", "s1", 40, "x", "skip"),
            ("u1", "s2", 0, "y", "play"),  # another session: its own answer (full)
        ]
    )
    flags = mark_full_plays(ev)
    assert flags.tolist() == [False, False, True, False, True, True, False, False, True]


def test_user_outcomes_counts_only_counted_events_and_keeps_silent_users():
    ev = _ev(
        [
            ("u1", "s1", 0, "x", "play"),
            ("u1", "s1", 5, "x", "skip"),
            ("u1", "s1", 10, "y", "play"),
            ("u1", "s1", 11, "y", "like"),
            ("u1", "s4", 50, "y", "like"),  # a session without a play: not a session
            ("u1", "s5", 60, "w", "play"),  # a second session with a play
            ("u2", "s2", 0, "z", "play"),  # not counted (organic)
            ("u9", "s9", 0, "z", "play"),  # not an assigned user
        ]
    )
    assignment = pd.DataFrame({"user_id": ["u3", "u1", "u2"], "arm": ["B", "A", "B"]})
    counted = [True, True, True, True, True, True, False, True]
    out = user_outcomes(ev, assignment, counted)
    assert list(out.columns) == OUTCOME_COLUMNS
    zeros = {"plays": 0, "full_plays": 0, "skips": 0, "likes": 0, "sessions": 0}
    assert out.to_dict("records") == [
        {
            "user_id": "u1",
            "arm": "A",
            "plays": 3,
            "full_plays": 2,
            "skips": 1,
            "likes": 2,
            "sessions": 2,
        },
        {"user_id": "u2", "arm": "B", **zeros},
        {"user_id": "u3", "arm": "B", **zeros},
    ]


def test_daily_outcomes_accrue():
    ev = _ev([("u1", "s1", 0, "x", "play"), ("u1", "s3", 3 * 86400, "y", "play")])
    assignment = pd.DataFrame({"user_id": ["u1"], "arm": ["A"]})
    daily = daily_outcomes(ev, assignment, None, T0.normalize())
    assert [int(daily[d]["plays"].iloc[0]) for d in range(1, 8)] == [1, 1, 1, 2, 2, 2, 2]


def test_replay_scores_each_arm_on_its_served_tracks():
    tracks, tg, bt = replay_world()
    params = PlaylistParams(n_genres=1, min_size=10, max_size=10, max_per_artist=1)
    held_out, docs = replay_documents(bt, tracks, tg, params)
    assert held_out == pd.Timestamp("2024-07-29")
    served = {
        arm: [[t["track_id"] for t in p["tracks"]] for p in d["playlists"]]
        for arm, d in docs.items()
    }
    assert set(served["A"][0]) == {f"t{i:02d}" for i in range(10)}
    assert set(served["B"][0]) == {f"t{i:02d}" for i in range(14, 24)}
    sessions = _ev(
        [
            ("ua", "s1", 0, "t01", "play"),  # A serves t01: full play
            ("ua", "s1", 10, "t20", "play"),  # B's track: not counted for an A user
            ("ua", "s1", 15, "t20", "skip"),
            ("ub", "s2", 0, "t20", "play"),  # B serves t20: skipped
            ("ub", "s2", 5, "t20", "skip"),
            ("ub", "s2", -8 * 86400, "t21", "play"),  # the week before: outside
        ]
    )
    events = week_events(sessions, held_out)
    assert len(events) == 5
    assignment = pd.DataFrame({"user_id": ["ua", "ub"], "arm": ["A", "B"]})
    counted = on_served_tracks(events, assignment, served)
    assert counted.tolist() == [True, False, False, True, True]
    out = user_outcomes(events, assignment, counted).set_index("user_id")
    assert out.loc["ua", ["plays", "full_plays", "skips"]].tolist() == [1, 1, 0]
    assert out.loc["ub", ["plays", "full_plays", "skips"]].tolist() == [1, 0, 1]
