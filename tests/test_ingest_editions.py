"""Ingest on the spellings of more dump editions (issue 9, items 1-4).

Every expected value is worked out by hand in the comments: an offset is
subtracted from the local time, a named zone is converted with its offset on
that date (Europe/Warsaw: +01:00 in winter, +02:00 in summer).
"""

from __future__ import annotations

import copy
import json

import pandas as pd
import pytest

from _ingest_dumps import base_dump, write_dump
from pozytywka.ingest import ingest_dump
from pozytywka.weeks import week_start_of


@pytest.fixture
def dump():
    return copy.deepcopy(base_dump())


def run(tmp_path, tables, **styles):
    return ingest_dump(write_dump(tmp_path / "dump", tables, **styles))


def _event(ts, session=40, user=1, track="t1", event="play"):
    return {
        "session_id": session,
        "timestamp": ts,
        "user_id": user,
        "track_id": track,
        "event_type": event,
    }


# ------------------------------------------------------------------ item 1: timestamps


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # offset with seconds, as one edition writes it: 01:00 at +2h is 23:00 UTC the day before
        ("2024-02-12 01:00:00.0 +02:00:00", "2024-02-11 23:00:00"),
        # a space before the offset
        ("2024-02-08 09:50:00 +02:00", "2024-02-08 07:50:00"),
        ("2024-02-08 09:52:40.925 +02:00:00", "2024-02-08 07:52:40.925"),
        # lower-case z is UTC
        ("2024-03-04T10:01:00z", "2024-03-04 10:01:00"),
        ("2024-03-04T10:01:00 UTC", "2024-03-04 10:01:00"),
        # an hour-only offset, a compact one, and one after "UTC"
        ("2024-03-04T12:01:00+02", "2024-03-04 10:01:00"),
        ("2024-03-04T05:31:00-0430", "2024-03-04 10:01:00"),
        ("2024-03-04T11:01:00 UTC+01:00", "2024-03-04 10:01:00"),
        # a negative offset with seconds: 10:00:00 - (-00:30:15) = 10:30:15
        ("2024-03-04T10:00:00-00:30:15", "2024-03-04 10:30:15"),
        # a named zone: Warsaw is +01:00 on 4 March, +02:00 on 1 July (summer time)
        ("2024-03-04T11:05:00 Europe/Warsaw", "2024-03-04 10:05:00"),
        ("2024-07-01T11:05:00 Europe/Warsaw", "2024-07-01 09:05:00"),
        # after the autumn change (03:00 CEST -> 02:00 CET) 03:30 exists once, at +01:00
        ("2024-10-27T03:30:00 Europe/Warsaw", "2024-10-27 02:30:00"),
        ("2024-07-01T12:00:00 America/New_York", "2024-07-01 16:00:00"),
    ],
)
def test_every_offset_spelling_is_converted_to_utc(tmp_path, dump, text, expected):
    dump["sessions"][0]["timestamp"] = text
    result = run(tmp_path, dump)
    s = result.tables["sessions"].set_index("row_number")
    assert s.loc[1, "timestamp"] == pd.Timestamp(expected)
    q = result.quality["sessions"]
    assert q["rows_dropped"] == 0
    assert q["repaired"]["timestamp_to_utc"] == 1  # only this row carried a zone
    assert q["repaired"]["timestamp_from_named_zone"] == int("/" in text)


def test_an_offset_moves_the_event_into_the_right_iso_week(tmp_path, dump):
    """Monday 01:00 at +02:00 is Sunday 23:00 UTC: the week before, not the week after."""
    dump["sessions"][0]["timestamp"] = "2024-02-12 01:00:00.0 +02:00:00"
    result = run(tmp_path, dump)
    ts = result.tables["sessions"].set_index("row_number").loc[1, "timestamp"]
    assert week_start_of(ts) == pd.Timestamp("2024-02-05")


def test_zones_that_cannot_be_resolved_are_dropped_under_their_own_reason(tmp_path, dump):
    dump["sessions"] += [
        _event("2024-01-03T10:00:00 Mars/Olympus"),  # not in the time-zone database
        _event("2024-01-03T10:01:00 CET"),  # an abbreviation, not a zone: never guessed
        _event("2024-03-31T02:30:00 Europe/Warsaw"),  # skipped by the spring change
        _event("2024-10-27T02:30:00 Europe/Warsaw"),  # happens twice in the autumn
        _event("2024-01-03T10:02:00+25:00"),  # no such offset
    ]
    result = run(tmp_path, dump)
    q = result.quality["sessions"]
    assert q["dropped"]["timestamp_zone_unknown"] == 2
    assert q["dropped"]["timestamp_zone_ambiguous"] == 2
    assert q["dropped"]["timestamp_invalid"] == 1
    assert q["rows_kept"] == 6
    sample = result.samples["sessions"]
    unknown = sample.loc[sample["reason"] == "timestamp_zone_unknown", "row_number"].tolist()
    assert unknown == [7, 8]


def test_rows_converted_from_an_offset_are_counted_in_data_quality(tmp_path, dump):
    dump["sessions"][0]["timestamp"] = "2024-01-01T12:00:00+02:00"
    dump["sessions"][1]["timestamp"] = "2024-01-01 10:03:00.250 +00:00:00"
    dump["sessions"][3]["timestamp"] = "2024-01-09T09:00:00 Europe/Warsaw"
    dump["sessions"][4]["timestamp"] = " 2024-01-09T08:01:00 "  # padded, but no zone
    result = run(tmp_path, dump)
    repaired = result.quality["sessions"]["repaired"]
    assert repaired["timestamp_to_utc"] == 3
    assert repaired["timestamp_from_named_zone"] == 1
    s = result.tables["sessions"].sort_values("row_number")["timestamp"].tolist()
    assert s[:5] == [
        pd.Timestamp("2024-01-01 10:00:00"),
        pd.Timestamp("2024-01-01 10:03:00.250"),
        pd.Timestamp("2024-01-01 10:03:30"),
        pd.Timestamp("2024-01-09 08:00:00"),
        pd.Timestamp("2024-01-09 08:01:00"),
    ]


# ------------------------------------------------------------------ item 2: positional lines


def _positional_dump() -> dict[str, list]:
    """The base dump written as the positional edition writes it, by hand."""
    audio = [0.5, 0.6, 5, -6.5, 0.05, 0.1, 0.0, 0.1, 0.4, 120.0]
    return {
        "artists": [["A1", "Some Band", ["pop"]], ["A2", "Other", ["rock", "Pop"]]],
        "tracks": [
            ["T1", "One", 50, 200000, 0, "A1", "2020-05-01", *audio],
            ["T2", "Two", 30, 180000, 1, "A2", "2019", *audio[:-1], 90.0],
        ],
        "users": [
            [101, "Name", "City", "Street", ["pop"], False],
            [102, "Other", None, None, None, True],
        ],
        "sessions": [
            ["2024-02-08 09:52:40.925 +02:00:00", 101, "T1", "Play", 7],
            ["2024-02-08 09:55:00.000 +02:00:00", 101, "T1", "Skip", 7],
            ["2024-02-08 09:56:00.000 +02:00:00", 101, None, "Advertisement", 7],
            ["2024-02-08 09:57:00.000 +02:00:00", 101, None, "BuyPremium", 7],
            ["2024-02-15 10:00:00.000 +02:00:00", 102, "T2", "Like", 8],
        ],
        "track_storage": [["T1", "fast", 0.5], ["T2", "slow", 0.1]],
    }


def test_positional_json_lines_are_read_by_each_tables_column_order(tmp_path):
    result = run(tmp_path, _positional_dump())
    for table in ("artists", "tracks", "users", "sessions", "track_storage"):
        assert result.quality[table]["rows_dropped"] == 0, table
    s = result.tables["sessions"].sort_values("row_number")
    assert s.iloc[0][["session_id", "timestamp", "user_id", "track_id", "event_type"]].tolist() == [
        "7",
        pd.Timestamp("2024-02-08 07:52:40.925"),
        "101",
        "T1",
        "play",
    ]
    assert s["event_type"].tolist() == ["play", "skip", "advertisement", "buy_premium", "like"]
    assert s["track_id"].isna().tolist() == [False, False, True, True, False]
    assert result.quality["sessions"]["flagged"]["unknown_event_type"] == 0
    t = result.tables["tracks"].set_index("track_id")
    assert t.loc["T2", ["name", "artist_id", "popularity", "explicit", "tempo"]].tolist() == [
        "Two",
        "A2",
        30.0,
        1,
        90.0,
    ]
    assert t.loc["T1", "loudness"] == -6.5
    assert [list(g) for g in result.tables["artists"]["genres"]] == [["pop"], ["rock", "pop"]]
    u = result.tables["users"].set_index("user_id")
    assert u.loc["101", ["name", "city", "street", "premium_user"]].tolist() == [
        "Name",
        "City",
        "Street",
        False,
    ]
    assert list(u.loc["101", "favourite_genres"]) == ["pop"]
    assert bool(u.loc["102", "premium_user"]) and pd.isna(u.loc["102", "city"])
    storage = result.tables["track_storage"]
    assert storage.values.tolist() == [["T1", "fast", 0.5], ["T2", "slow", 0.1]]


def test_positional_arrays_of_the_wrong_length_are_malformed_rows(tmp_path):
    dump = _positional_dump()
    dump["sessions"] += [
        ["2024-02-08 10:00:00 +02:00", 101, "T1", "Play"],  # one short
        ["2024-02-08 10:01:00 +02:00", 101, "T1", "Play", 7, "extra"],  # one long
    ]
    dump["artists"].append(["A3", "No genres"])
    result = run(tmp_path, dump)
    for table, n in (("sessions", 2), ("artists", 1)):
        q = result.quality[table]
        assert q["dropped"]["malformed_json"] == n
        assert q["rows_read"] == q["rows_kept"] + q["rows_dropped"]
    assert result.quality["sessions"]["rows_kept"] == 5
    assert result.samples["sessions"]["row_number"].tolist() == [6, 7]


def test_object_and_positional_lines_mix_in_one_file(tmp_path, dump):
    dump["sessions"].append(["2024-01-15 11:00:00 +01:00", 2, "t2", "PLAY", 12])
    result = run(tmp_path, dump)
    s = result.tables["sessions"].set_index("row_number")
    assert s.loc[7, ["session_id", "user_id", "track_id", "event_type"]].tolist() == [
        "12",
        "2",
        "t2",
        "play",
    ]
    assert s.loc[7, "timestamp"] == pd.Timestamp("2024-01-15 10:00:00")


def test_a_file_of_arrays_with_another_column_count_is_rejected_with_the_order(tmp_path, dump):
    from pozytywka.errors import PozytywkaError

    dump["track_storage"] = [["t1", "fast"], ["t2", "slow"], ["t3", "medium"]]
    with pytest.raises(PozytywkaError, match=r"3 of 3 lines .*track_id, storage_class"):
        run(tmp_path, dump)


# ------------------------------------------------------------------ item 3: event type names


def test_every_case_style_of_an_event_type_is_one_known_name(tmp_path, dump):
    spellings = [
        "BuyPremium",
        "BUY_PREMIUM",
        "buy_premium",
        "Buy Premium",
        "buy-premium",
        "buyPremium",
        "ADVERTISEMENT",
        "Advertisement",
        "Play",
        "SKIP",
        "Like",
    ]
    for i, event in enumerate(spellings):
        track = None if "premium" in event.lower() or "advert" in event.lower() else "t1"
        dump["sessions"].append(_event(f"2024-01-15T10:{i:02d}:00", 50, 2, track, event))
    dump["sessions"].append(_event("2024-01-15T11:00:00", 50, 2, None, "ShareTrack"))
    result = run(tmp_path, dump)
    s = result.tables["sessions"].sort_values("row_number")
    assert s["event_type"].tolist()[6:] == ["buy_premium"] * 6 + [
        "advertisement",
        "advertisement",
        "play",
        "skip",
        "like",
        "share_track",
    ]
    q = result.quality["sessions"]
    assert q["flagged"]["unknown_event_type"] == 1  # share_track only
    # re-spelled: 10 of the 11 (buy_premium is already canonical), ShareTrack and the
    # base dump's sic "advertisment"
    assert q["repaired"]["event_type_normalised"] == 12
    assert q["rows_dropped"] == 0


# ------------------------------------------------------------------ item 4: broken characters


def test_a_lone_surrogate_escape_is_replaced_and_the_row_kept(tmp_path, dump):
    dump["tracks"][0]["name"] = "Song \ud800"  # json.dumps writes the escape "\\ud800"
    dump["tracks"][1]["name"] = "Two \udc00\ud800 \U0001f600"  # two lone ones, a valid pair
    dump["artists"][1]["name"] = "C:\\ud800"  # a backslash then the letters: not an escape
    assert "\\ud800" in json.dumps(dump["tracks"][0])
    result = run(tmp_path, dump)
    t = result.tables["tracks"].set_index("track_id")
    assert t.loc["t1", "name"] == "Song \ufffd"
    assert t.loc["t2", "name"] == "Two \ufffd\ufffd \U0001f600"
    assert result.tables["artists"].set_index("artist_id").loc["a2", "name"] == "C:\\ud800"
    q = result.quality["tracks"]
    assert q["rows_dropped"] == 0
    assert q["repaired"]["invalid_unicode_replaced"] == 2  # rows
    assert result.quality["artists"]["repaired"]["invalid_unicode_replaced"] == 0
    # the plays of t1 still find their track
    assert result.quality["sessions"]["flagged"]["unknown_track_id"] == 0


def test_a_lone_surrogate_in_a_session_line_keeps_the_event(tmp_path, dump):
    dump["sessions"][0]["session_id"] = "10\ud83d"  # a high surrogate without its low half
    result = run(tmp_path, dump)
    q = result.quality["sessions"]
    assert q["rows_kept"] == 6
    assert q["repaired"]["invalid_unicode_replaced"] == 1
    s = result.tables["sessions"].set_index("row_number")
    assert s.loc[1, "session_id"] == "10\ufffd"
