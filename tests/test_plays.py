"""Full play and weekly popularity (DESIGN §4) on hand-computed examples."""

from __future__ import annotations

import pandas as pd

from pozytywka.plays import full_plays, weekly_popularity


def sessions_frame(rows: list[tuple]) -> pd.DataFrame:
    """Interim sessions from (session, timestamp, user, track, event) tuples."""
    df = pd.DataFrame(
        rows, columns=["session_id", "timestamp", "user_id", "track_id", "event_type"]
    )
    df["timestamp"] = pd.to_datetime(df["timestamp"]).astype("datetime64[us]")
    df["row_number"] = range(len(df))
    return df


def full_flags(rows: list[tuple]) -> list[tuple[str, str, bool]]:
    out = full_plays(sessions_frame(rows))
    return [(r.track_id, str(r.ts.time()), r.is_full) for r in out.itertuples()]


def test_plain_play_is_full_and_skipped_play_is_not() -> None:
    rows = [
        ("s1", "2024-01-02 10:00:00", "u1", "A", "play"),
        ("s1", "2024-01-02 10:03:00", "u1", "B", "play"),
        ("s1", "2024-01-02 10:03:30", "u1", "B", "skip"),
        ("s1", "2024-01-02 10:04:00", "u1", "C", "play"),
    ]
    assert full_flags(rows) == [
        ("A", "10:00:00", True),
        ("B", "10:03:00", False),
        ("C", "10:04:00", True),
    ]


def test_skip_at_same_instant_as_next_play_belongs_to_the_play_whatever_the_file_order() -> None:
    rows = [
        ("s1", "2024-01-02 10:00:00", "u1", "A", "play"),
        ("s1", "2024-01-02 10:01:00", "u1", "B", "play"),  # listed before the skip of A
        ("s1", "2024-01-02 10:01:00", "u1", "A", "skip"),
    ]
    expected = [("A", "10:00:00", False), ("B", "10:01:00", True)]
    assert full_flags(rows) == expected
    assert full_flags(rows[::-1]) == expected


def test_skip_after_next_play_does_not_count() -> None:
    # A skip of A after B started belongs to no play of A in between: A stays full.
    rows = [
        ("s1", "2024-01-02 10:00:00", "u1", "A", "play"),
        ("s1", "2024-01-02 10:01:00", "u1", "B", "play"),
        ("s1", "2024-01-02 10:02:00", "u1", "A", "skip"),
    ]
    assert full_flags(rows) == [("A", "10:00:00", True), ("B", "10:01:00", True)]


def test_repeated_plays_of_same_track_judged_separately() -> None:
    rows = [
        ("s1", "2024-01-02 10:00:00", "u1", "A", "play"),
        ("s1", "2024-01-02 10:01:00", "u1", "A", "skip"),
        ("s1", "2024-01-02 10:02:00", "u1", "A", "play"),
        ("s1", "2024-01-02 10:05:00", "u1", "A", "play"),
        ("s1", "2024-01-02 10:06:00", "u1", "A", "skip"),
    ]
    assert full_flags(rows) == [
        ("A", "10:00:00", False),
        ("A", "10:02:00", True),
        ("A", "10:05:00", False),  # last play: open window, the later skip counts
    ]


def test_skip_of_other_track_and_other_session_do_not_count() -> None:
    rows = [
        ("s1", "2024-01-02 10:00:00", "u1", "A", "play"),
        ("s1", "2024-01-02 10:00:30", "u1", "X", "skip"),
        ("s2", "2024-01-02 10:00:40", "u1", "A", "skip"),
        ("s1", "2024-01-02 10:01:00", "u1", "B", "play"),
    ]
    assert full_flags(rows) == [("A", "10:00:00", True), ("B", "10:01:00", True)]


def test_skip_at_same_instant_as_the_play_counts() -> None:
    rows = [
        ("s1", "2024-01-02 10:00:00", "u1", "A", "skip"),
        ("s1", "2024-01-02 10:00:00", "u1", "A", "play"),
    ]
    assert full_flags(rows) == [("A", "10:00:00", False)]


def _week_rows() -> list[tuple]:
    """Two complete weeks (Mon 2024-01-01 .. Sun 2024-01-14) plus a partial third."""
    return [
        # week 1: u1 and u2 fully play A; u3 plays A but skips it; u1 plays A twice
        ("s1", "2024-01-01 00:00:00", "u1", "A", "play"),
        ("s1", "2024-01-01 00:03:00", "u1", "A", "play"),
        ("s1", "2024-01-01 00:04:00", "u1", "A", "like"),
        ("s2", "2024-01-03 12:00:00", "u2", "A", "play"),
        ("s3", "2024-01-04 12:00:00", "u3", "A", "play"),
        ("s3", "2024-01-04 12:00:10", "u3", "A", "skip"),
        # boundary: Sunday 23:59:59 play of B skipped at Monday 00:00:00 -> week 1, not full
        ("s4", "2024-01-07 23:59:59", "u4", "B", "play"),
        ("s4", "2024-01-08 00:00:00", "u4", "B", "skip"),
        # u5: Sunday 23:59:59 full play of B (week 1); Monday 00:00:00 full play (week 2)
        ("s5", "2024-01-07 23:59:59", "u5", "B", "play"),
        ("s5", "2024-01-08 00:00:00", "u5", "C", "play"),
        ("s6", "2024-01-08 00:00:00", "u5", "B", "play"),
        ("s7", "2024-01-14 23:00:00", "u1", None, "advertisement"),
        # partial week 3 (log ends on Tuesday): dropped
        ("s8", "2024-01-16 09:00:00", "u1", "A", "play"),
    ]


def test_weekly_popularity_hand_computed() -> None:
    weekly = weekly_popularity(sessions_frame(_week_rows()))
    got = {
        (str(r.week_start.date()), r.track_id): (
            r.plays,
            r.full_plays,
            r.skips,
            r.likes,
            r.listeners,
            r.popularity,
        )
        for r in weekly.itertuples()
    }
    assert got == {
        # plays 4 (u1 x2, u2, u3); full 3; skips 1 (u3); likes 1; listeners 3; popularity 2
        ("2024-01-01", "A"): (4, 3, 1, 1, 3, 2),
        # B in week 1: u4 (not full, skip on Monday still judges it), u5 full; the skip
        # event itself is Monday's, so it counts in week 2's skips
        ("2024-01-01", "B"): (2, 1, 0, 0, 2, 1),
        ("2024-01-08", "B"): (1, 1, 1, 0, 1, 1),
        ("2024-01-08", "C"): (1, 1, 0, 0, 1, 1),
    }
    assert str(weekly["week_start"].dtype) == "datetime64[us]"
    assert list(weekly.columns) == [
        "week_start",
        "track_id",
        "plays",
        "full_plays",
        "skips",
        "likes",
        "listeners",
        "popularity",
    ]


def test_weekly_popularity_does_not_depend_on_row_order() -> None:
    rows = _week_rows()
    a = weekly_popularity(sessions_frame(rows))
    b = weekly_popularity(sessions_frame(rows[::-1]))
    pd.testing.assert_frame_equal(a, b)


def test_the_next_weeks_first_event_can_change_a_finished_weeks_popularity() -> None:
    """Why incremental aggregation must recompute the previous week (docs/scaling.md).

    Week of 2024-01-08 is complete once the log reaches Sunday 01-14. Its last play
    (Sunday 23:59) is full while nothing follows it; a skip of that track in the
    same session on Monday 00:00:01 (the next week's first event) makes it not full,
    and the finished week's popularity drops from 1 to 0. Appending weeks as they
    arrive would keep the stale 1.
    """
    week_one = [
        ("s0", "2024-01-08 00:00:00", "u0", None, "advertisement"),
        ("s1", "2024-01-14 23:59:00", "u1", "a", "play"),
    ]
    monday = [("s1", "2024-01-15 00:00:01", "u1", "a", "skip")]
    week = pd.Timestamp("2024-01-08")

    before = weekly_popularity(sessions_frame(week_one))
    after = weekly_popularity(sessions_frame(week_one + monday))
    assert before.set_index(["week_start", "track_id"]).loc[(week, "a"), "popularity"] == 1
    got = after.set_index(["week_start", "track_id"]).loc[(week, "a")]
    assert (got["plays"], got["full_plays"], got["popularity"]) == (1, 0, 0)
