"""Realism statistics (issue 21 item 4) on a tiny hand-made log, answers computed by hand.

The log (codes: users u0..u2, sessions s0..s3, tracks t0..t4, genres g0..g2):

    week 0  s0 u0: play t0 (full), like t0, play t1 (not full), skip t1, ad
            s1 u1: play t0 (full), play t2 (full)
    week 1  s2 u0: play t0 (full), play t3 (not full), skip t3
            s3 u2: play t0 (full), play t2 (full), like t2, play t4 (full)

    genres: t0 {g0}, t1 {g1}, t2 {g0, g2}, t3 none, t4 {g1}; t4 is released in week 1.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from _ingest_dumps import base_dump, write_dump
from pozytywka.cli import main
from pozytywka.realism import stats
from pozytywka.realism.load import compact_log
from pozytywka.realism.report import build_report, inside, markdown, value_range

ROWS = [
    # user, session, week, track, event, is_full
    (0, 0, 0, 0, "play", True),
    (0, 0, 0, 0, "like", False),
    (0, 0, 0, 1, "play", False),
    (0, 0, 0, 1, "skip", False),
    (0, 0, 0, -1, "other", False),
    (1, 1, 0, 0, "play", True),
    (1, 1, 0, 2, "play", True),
    (0, 2, 1, 0, "play", True),
    (0, 2, 1, 3, "play", False),
    (0, 2, 1, 3, "skip", False),
    (2, 3, 1, 0, "play", True),
    (2, 3, 1, 2, "play", True),
    (2, 3, 1, 2, "like", False),
    (2, 3, 1, 4, "play", True),
]


@pytest.fixture
def events() -> pd.DataFrame:
    return pd.DataFrame(ROWS, columns=["user", "session", "week", "track", "event", "is_full"])


@pytest.fixture
def genres() -> pd.DataFrame:
    return pd.DataFrame({"track": [0, 1, 2, 2, 4], "genre": [0, 1, 0, 2, 1]})


AVAILABLE = pd.Series([4, 5])  # t4 comes out in week 1


def test_events_per_listener_week(events):
    # 14 events over (u0,w0), (u1,w0), (u0,w1), (u2,w1)
    assert stats.events_per_listener_week(events) == pytest.approx(14 / 4)


def test_one_off_play_share(events):
    # week 0: t0 twice; t1, t2 once. week 1: t0 twice; t3, t2, t4 once -> 5 of 9 plays
    assert stats.one_off_play_share(events) == pytest.approx(5 / 9)


def test_top_genre_share(events, genres):
    # full plays: w0 t0, t0, t2 (g0: 3, g2: 1); w1 t0, t0, t2, t4 (g0: 3, g1: 1, g2: 1)
    # top 1 = g0 both weeks: 3 of 3 and 3 of 4 tagged full plays
    assert stats.top_genre_share(events, genres, top=1) == pytest.approx(6 / 7)
    assert stats.top_genre_share(events, genres, top=5) == pytest.approx(1.0)


def test_favourite_genre_share_breaks_ties_by_genre_code(events, genres):
    # only u0 has history in week 1: g0 1 play (t0), g1 1 play (t1): tie -> g0.
    # u0's week-1 plays: t0 (g0: hit), t3 (no genre: miss) -> 1 of 2
    assert stats.favourite_genre_share(events, genres, top=1) == pytest.approx(0.5)
    assert stats.favourite_genre_share(events, genres, top=3) == pytest.approx(0.5)
    # u2's plays do not count (no history), u1 does not play in week 1
    assert stats.favourite_genre_share(events[events["week"] == 0], genres) is None


def test_top_mask_keeps_only_positive_counts():
    counts = pd.DataFrame([[2, 0, 2, 1], [0, 0, 0, 3]]).to_numpy()
    mask = stats._top_mask(counts, 2)
    assert mask.tolist() == [[True, False, True, False], [False, False, False, True]]


def test_skip_and_like_rates(events):
    assert stats.skip_rate(events) == pytest.approx(2 / 9)  # t1 and t3 not full
    assert stats.like_rate(events) == pytest.approx(2 / 9)


def test_session_length(events):
    assert stats.session_length(events) == 3.5  # sessions of 5, 2, 3 and 4 events


def test_repeat_share(events):
    # week 1 plays: u0 t0 (u0 played it in week 0: repeat), u0 t3, u2 t0, u2 t2, u2 t4
    assert stats.repeat_share(events) == pytest.approx(1 / 5)


def test_catalogue_coverage(events):
    # week 0: t0, t1, t2 of 4; week 1: t0, t2, t3, t4 of 5
    assert stats.catalogue_coverage(events, AVAILABLE) == pytest.approx((3 / 4 + 4 / 5) / 2)


def test_chart_overlap_ties_go_to_the_lower_track(events):
    # w0 popularity: t0 2, t2 1; w1: t0 2, t2 1, t4 1 (tie: t2 first)
    assert stats.weekly_chart(events, size=2) == {0: {0, 2}, 1: {0, 2}}
    assert stats.chart_overlap(events, size=2) == pytest.approx(1.0)
    assert stats.chart_overlap(events, size=3) == pytest.approx(2 / 3)


def test_listeners_per_track(events):
    # (week, track) listeners: w0 t0 2, t1 1, t2 1; w1 t0 2, t3 1, t2 1, t4 1 -> median 1
    assert stats.listeners_per_track(events) == 1.0
    assert stats.listeners_per_track(events[events["track"] == 0]) == 2.0


def test_plays_per_track_week(events):
    assert stats.plays_per_track_week(events, AVAILABLE) == pytest.approx(9 / 9)


def test_empty_log_gives_none_not_nan(events, genres):
    empty = events.iloc[0:0]
    values = stats.all_statistics(empty, genres, AVAILABLE)
    assert list(values) == list(stats.STATISTICS)
    assert all(v is None for v in values.values())


def test_inside_and_range():
    assert value_range([0.2, None, 0.1]) == (0.1, 0.2)
    assert value_range([None]) == (None, None)
    assert inside(0.15, 0.1, 0.2) is True
    assert inside(0.21, 0.1, 0.2) is False
    assert inside(None, 0.1, 0.2) is None


def test_build_report_marks_outside_with_a_reason():
    def dump(value, ppt):
        values = {k: 0.5 for k in stats.STATISTICS} | {"listeners_per_track": value}
        return {"values": values, "info": {"plays_per_track_week": ppt}}

    report = build_report(
        dump(6.0, 3.0), {"b": dump(1.0, 0.5), "a": dump(2.0, 0.9)}, {"c": "no tracks"}, None
    )
    row = {r["statistic"]: r for r in report["statistics"]}["listeners_per_track"]
    assert (row["real_min"], row["real_max"], row["inside"]) == (1.0, 2.0, False)
    assert "synthetic 3.00, real 0.50..0.90" in row["why_outside"]
    assert list(row["real"]) == ["a", "b"]
    assert (report["inside"], report["outside"]) == (len(stats.STATISTICS) - 1, 1)
    text = markdown(report)
    assert (
        "| listeners per track | — | 6.0000 | 1.0000..2.0000 | 2.0000 | 1.0000 | **no** |" in text
    )
    assert "- `c`: no tracks" in text
    json.dumps(report, allow_nan=False)


def _dump(tmp_path, name):
    tables = base_dump()
    tables["sessions"].insert(
        2,
        {
            "session_id": 10,
            "timestamp": "2024-01-01T10:03:20",
            "user_id": 1,
            "track_id": "t2",
            "event_type": "skip",
        },
    )
    return write_dump(tmp_path / name, tables)


def test_compact_log_through_ingest(tmp_path):
    # complete weeks 2024-01-01 and 01-08; the skip on Monday 01-15 is outside them
    log = compact_log(_dump(tmp_path, "d"))
    assert (log.first_week, log.weeks, log.listeners, log.tracks, log.genres) == (
        "2024-01-01",
        2,
        2,
        3,
        3,
    )
    got = log.events.assign(event=log.events["event"].astype(str))
    assert got.values.tolist() == [
        [0, 0, 0, 0, "play", True],  # t1: no skip of it in session 10
        [0, 0, 0, 1, "play", False],  # t2: skipped at 10:03:20
        [0, 0, 0, 1, "skip", False],
        [0, 0, 0, -1, "other", False],  # the ad
        [1, 1, 1, 2, "play", True],
        [1, 1, 1, 2, "like", False],
    ]
    # genres by name: dance pop 0, pop 1, rock 2; t1, t2 by a1 (dance pop, pop); t3 by a2
    assert log.track_genres.values.tolist() == [[0, 0], [0, 1], [1, 0], [1, 1], [2, 2]]
    assert log.available.tolist() == [3, 3]


def test_realism_command_writes_the_report(tmp_path):
    synthetic = _dump(tmp_path, "synthetic")
    real = _dump(tmp_path / "dumps", "real-a")
    (tmp_path / "dumps" / "no-tracks").mkdir()
    for table in ("artists", "users", "sessions"):
        src = real / f"{table}.jsonl"
        (tmp_path / "dumps" / "no-tracks" / src.name).write_bytes(src.read_bytes())
    out = tmp_path / "out"
    args = ["-q", "realism", "--dumps-dir", str(tmp_path / "dumps"), "--synthetic"]
    args += [str(synthetic), "--out", str(out), "--before", str(tmp_path / "none.json")]
    assert main(args) == 0
    report = json.loads((out / "realism.json").read_text())
    assert list(report["real"]) == ["real-a"]
    assert report["skipped"]["no-tracks"].startswith("no-tracks/tracks.jsonl: required file")
    # the same dump on both sides: every statistic inside its (one-point) range
    assert report["inside"] == len(stats.STATISTICS) - 1  # favourite-genre share: None
    assert (out / "realism.png").stat().st_size > 0
    first = (out / "realism.json").read_bytes()
    assert main(args) == 0
    assert (out / "realism.json").read_bytes() == first


def test_realism_command_without_real_dumps_says_so(tmp_path, capsys):
    synthetic = _dump(tmp_path, "synthetic")
    args = ["realism", "--dumps-dir", str(tmp_path / "missing"), "--synthetic", str(synthetic)]
    assert main(args) == 2
    assert "the real dumps folder" in capsys.readouterr().err
