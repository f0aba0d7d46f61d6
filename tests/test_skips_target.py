"""The skip target: one row per play, the full-play rule of pozytywka.plays, when it is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import skips_data
from pozytywka.plays import full_plays
from pozytywka.skips.target import TARGET_COLUMNS, play_targets, session_outcomes


def test_target_by_hand():
    t = play_targets(skips_data.events()).set_index("play_id")
    assert list(t.reset_index().columns) == TARGET_COLUMNS
    assert list(t.index) == [0, 2, 3, 5, 8, 10]  # the plays, in time order
    assert t["skipped"].to_dict() == {0: 1, 2: 0, 3: 0, 5: 1, 8: 1, 10: 0}
    ts = pd.Timestamp
    # a skip is known at the skip; a full play at the next play, or at the session's end
    assert t.loc[0, "known_at"] == ts("2024-01-01 10:01:00")
    assert t.loc[2, "known_at"] == ts("2024-01-01 10:04:22")
    assert t.loc[3, "known_at"] == ts("2024-01-01 10:05:00")  # the like ends the session
    assert t.loc[10, "known_at"] == ts("2024-01-08 09:00:51")
    assert t.loc[0, "skip_after_s"] == 60.0 and t.loc[8, "skip_after_s"] == 30.0
    assert np.isnan(t.loc[2, "skip_after_s"])
    assert t.loc[10, "week_start"] == ts("2024-01-08") and t.loc[3, "week_start"] == ts(
        "2024-01-01"
    )


def test_target_is_the_full_play_rule():
    """One implementation: skipped == not is_full of pozytywka.plays, play for play."""
    events = skips_data.events()
    t = play_targets(events)
    fp = full_plays(events)
    merged = t.merge(fp, on=["session_id", "ts", "track_id"])
    assert len(merged) == len(t) == len(fp)
    assert (merged["skipped"] == (~merged["is_full"]).astype(int)).all()


def test_weeks_filter_keeps_only_given_weeks():
    t = play_targets(skips_data.events(), [skips_data.W1])
    assert sorted(t["play_id"]) == [8, 10]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 6),  # seconds: few values, so ties are common
            st.sampled_from(["play", "play", "skip", "like", "advertisement"]),
            st.sampled_from(["t1", "t2"]),
        ),
        min_size=1,
        max_size=10,
    )
)
def test_session_outcomes_is_the_sql_rule(rows):
    """The serving path's Python rule gives play_targets' outcome for every play, ties included."""
    events = pd.DataFrame(
        [
            (
                "s",
                skips_data.W0 + pd.Timedelta(seconds=sec),
                "u1",
                None if e == "advertisement" else t,
                e,
            )
            for sec, e, t in rows
        ],
        columns=["session_id", "timestamp", "user_id", "track_id", "event_type"],
    )
    events["timestamp"] = events["timestamp"].astype("datetime64[us]")
    events["row_number"] = range(len(events))
    sql = play_targets(events)
    python = session_outcomes(
        [(int(e.timestamp.value), e.event_type, e.track_id) for e in events.itertuples()]
    )
    expected = sorted(
        zip(sql["ts"].astype("int64") * 1000, sql["skipped"].astype(int), strict=True)
    )
    assert sorted(python) == expected
