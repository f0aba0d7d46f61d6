"""Ingest on small hand-written dumps, one style of dirt at a time (issue 5)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pandera.errors
import pytest

from _ingest_dumps import base_dump, write_dump
from pozytywka.ingest import ingest_dump
from pozytywka.ingest.schemas import SCHEMAS


@pytest.fixture
def dump():
    return copy.deepcopy(base_dump())


def run(tmp_path, tables, **styles):
    return ingest_dump(write_dump(tmp_path / "dump", tables, **styles))


def balanced(result):
    for table in ("artists", "tracks", "users", "sessions", "track_storage"):
        q = result.quality[table]
        assert q["rows_read"] == q["rows_kept"] + q["rows_dropped"], table
        assert q["rows_dropped"] == sum(q["dropped"].values()), table
        assert len(result.tables[table]) == q["rows_kept"], table


def test_clean_dump_keeps_everything_with_contract_types(tmp_path, dump):
    result = run(tmp_path, dump)
    balanced(result)
    for table in ("artists", "tracks", "users", "sessions", "track_storage"):
        assert result.quality[table]["rows_dropped"] == 0
    s = result.tables["sessions"]
    assert str(s["timestamp"].dtype) == "datetime64[us]"
    assert s["user_id"].tolist() == ["1", "1", "1", "2", "2", "2"]  # ints -> strings
    assert s["event_type"].tolist()[2] == "advertisement"  # the sic spelling fixed
    assert pd.isna(s["track_id"].iloc[2])  # ads keep a null track
    assert result.tables["tracks"]["explicit"].dtype == "Int8"
    genres = result.tables["track_genres"]
    assert genres.values.tolist() == [
        ["t1", "dance pop"],
        ["t1", "pop"],
        ["t2", "dance pop"],
        ["t2", "pop"],
        ["t3", "rock"],
    ]
    assert result.samples == {}


def test_gz_and_plain_files_give_identical_tables(tmp_path, dump):
    plain = run(tmp_path / "a", dump)
    gz = run(tmp_path / "b", dump, gz=("sessions", "tracks", "artists"))
    for table, frame in plain.tables.items():
        pd.testing.assert_frame_equal(frame, gz.tables[table])
    assert gz.quality["sessions"]["file"] == "sessions.jsonl.gz"


def test_bom_crlf_blank_and_malformed_lines_are_counted_not_fatal(tmp_path, dump):
    dump["sessions"][3:3] = ["", "{not json", "   ", '["a list"]', '"a string"', '{"trunc']
    dump["users"].insert(1, "")
    result = run(tmp_path, dump, bom=("sessions", "users"), crlf=("sessions", "users"))
    balanced(result)
    q = result.quality["sessions"]
    # blank lines are not rows; the four malformed ones are read and dropped
    assert q["rows_read"] == 6 + 4
    assert q["dropped"]["malformed_json"] == 4
    assert q["rows_kept"] == 6
    # the BOM did not eat the first row
    assert result.tables["sessions"]["row_number"].min() == 1
    assert result.quality["users"]["rows_kept"] == 2
    sample = result.samples["sessions"]
    assert sample["reason"].eq("malformed_json").all()
    assert "{not json" in sample["line"].tolist()
    # row_number is the line in the file (blank lines included)
    assert sample.loc[sample["line"] == "{not json", "row_number"].item() == 5


def test_enum_spellings_and_cases_are_canonical(tmp_path, dump):
    spellings = ["PLAY", "Skip", " like ", "ADVERTISEMENT", "Advertisment", "advertisement"]
    for row, event in zip(dump["sessions"], spellings, strict=True):
        row["event_type"] = event
        row["track_id"] = None if "advert" in event.lower() else "t1"
    dump["track_storage"][0]["storage_class"] = "SLOW"
    dump["track_storage"][1]["storage_class"] = " Medium "
    dump["artists"][0]["genres"] = [" Dance Pop ", "POP", "pop", "", None]
    result = run(tmp_path, dump)
    events = result.tables["sessions"].sort_values("row_number")["event_type"].tolist()
    assert events == ["play", "skip", "like", "advertisement", "advertisement", "advertisement"]
    assert result.quality["sessions"]["repaired"]["event_type_normalised"] == 5
    assert result.tables["track_storage"]["storage_class"].tolist() == ["slow", "medium", "medium"]
    assert result.quality["track_storage"]["repaired"]["storage_class_normalised"] == 2
    assert list(result.tables["artists"]["genres"].iloc[0]) == ["dance pop", "pop"]


def test_unknown_event_types_are_kept_lower_cased_and_flagged(tmp_path, dump):
    dump["sessions"].append(
        {
            "session_id": 12,
            "timestamp": "2024-01-15T09:05:00",
            "user_id": 2,
            "track_id": None,
            "event_type": "Share-Track",
        }
    )
    result = run(tmp_path, dump)
    assert "share_track" in result.tables["sessions"]["event_type"].tolist()
    assert result.quality["sessions"]["flagged"]["unknown_event_type"] == 1
    assert result.quality["sessions"]["rows_dropped"] == 0


def test_missing_key_empty_string_and_null_mean_the_same(tmp_path, dump):
    # three play rows without a track, each spelled differently: all dropped alike
    variants = [{"track_id": None}, {"track_id": ""}, {}]
    for i, variant in enumerate(variants):
        row = {
            "session_id": 20,
            "timestamp": f"2024-01-02T10:0{i}:00",
            "user_id": 1,
            "event_type": "play",
            **variant,
        }
        dump["sessions"].append(row)
    # optional text: missing, "" and null all become null
    dump["users"][0]["city"] = ""
    del dump["users"][1]["city"]
    result = run(tmp_path, dump)
    assert result.quality["sessions"]["dropped"]["track_id_missing"] == 3
    assert result.tables["users"]["city"].isna().all()
    assert result.quality["users"]["repaired"]["empty_string_as_null"] == 1


def test_sentinel_ids_are_missing(tmp_path, dump):
    dump["sessions"][0]["track_id"] = -1  # a play with no track: dropped
    dump["sessions"][2]["track_id"] = -1  # an ad: the sentinel is just "no track"
    dump["sessions"][1]["user_id"] = -1  # recovered from the session
    dump["tracks"][1]["id_artist"] = -1
    result = run(tmp_path, dump)
    balanced(result)
    q = result.quality["sessions"]
    assert q["dropped"]["track_id_missing"] == 1
    assert q["repaired"]["user_id_from_session"] == 1
    assert q["repaired"]["sentinel_id_as_null"] == 2  # on kept rows: the ad and the user
    tracks = result.tables["tracks"].set_index("track_id")
    assert pd.isna(tracks.loc["t2", "artist_id"])
    assert "-1" not in result.tables["sessions"][["user_id", "track_id"]].to_numpy()


def test_integer_and_float_ids_become_the_same_strings(tmp_path, dump):
    dump["sessions"][0]["user_id"] = "1"
    dump["sessions"][1]["user_id"] = 1.0
    dump["sessions"][0]["session_id"] = "10"
    result = run(tmp_path, dump)
    s = result.tables["sessions"].sort_values("row_number")
    assert s["user_id"].tolist()[:3] == ["1", "1", "1"]
    assert s["session_id"].tolist()[:3] == ["10", "10", "10"]


def test_null_lists_become_empty_lists(tmp_path, dump):
    dump["artists"][1]["genres"] = None
    dump["users"][0]["favourite_genres"] = None
    del dump["users"][1]["favourite_genres"]
    result = run(tmp_path, dump)
    assert list(result.tables["artists"]["genres"].iloc[1]) == []
    assert [list(g) for g in result.tables["users"]["favourite_genres"]] == [[], []]
    assert result.quality["artists"]["repaired"]["genres_null_as_empty"] == 1
    assert result.quality["users"]["repaired"]["favourite_genres_null_as_empty"] == 2
    # a track of an artist without genres has no genre rows
    assert "t3" not in set(result.tables["track_genres"]["track_id"])


def test_list_written_as_text_is_parsed(tmp_path, dump):
    dump["artists"][0]["genres"] = '["Dance Pop", "pop"]'
    dump["artists"][1]["genres"] = "Rock, Indie Rock"
    result = run(tmp_path, dump)
    assert [list(g) for g in result.tables["artists"]["genres"]] == [
        ["dance pop", "pop"],
        ["rock", "indie rock"],
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-03T10:00:00", "2024-01-03 10:00:00"),
        ("2024-01-03 10:00:00", "2024-01-03 10:00:00"),
        ("2024-01-03T10:00:00.5", "2024-01-03 10:00:00.500"),
        ("2024-01-03T10:00:00.123456", "2024-01-03 10:00:00.123456"),
        ("2024-01-03T10:00:00Z", "2024-01-03 10:00:00"),
        ("2024-01-03T12:00:00+02:00", "2024-01-03 10:00:00"),
        ("2024-01-03T05:30:00.250-0430", "2024-01-03 10:00:00.250"),
        (" 2024-01-03T10:00:00 ", "2024-01-03 10:00:00"),
    ],
)
def test_timestamp_variants_become_naive_utc(tmp_path, dump, text, expected):
    dump["sessions"][0]["timestamp"] = text
    result = run(tmp_path, dump)
    s = result.tables["sessions"].set_index("row_number")
    assert s.loc[1, "timestamp"] == pd.Timestamp(expected)
    assert s["timestamp"].dt.tz is None


def test_bad_and_missing_timestamps_are_dropped_by_reason(tmp_path, dump):
    dump["sessions"][0]["timestamp"] = "yesterday"
    dump["sessions"][1]["timestamp"] = ""
    del dump["sessions"][2]["timestamp"]
    result = run(tmp_path, dump)
    dropped = result.quality["sessions"]["dropped"]
    assert dropped["timestamp_invalid"] == 1
    assert dropped["timestamp_missing"] == 2


def test_release_date_precisions(tmp_path, dump):
    dump["tracks"][0]["release_date"] = "2020-05-17"
    dump["tracks"][1]["release_date"] = 1999  # a year as a number
    dump["tracks"][2]["release_date"] = "2021-03"
    dump["tracks"].append(
        {"id": "t4", "name": "Four", "id_artist": "a2", "release_date": "2021-02-30"}
    )
    dump["tracks"].append({"id": "t5", "name": "Five", "id_artist": "a2", "release_date": ""})
    result = run(tmp_path, dump)
    t = result.tables["tracks"].set_index("track_id")
    assert t.loc["t1", "release_date"] == pd.Timestamp("2020-05-17")
    assert t.loc["t1", "release_precision"] == "day"
    assert t.loc["t2", "release_date"] == pd.Timestamp("1999-01-01")
    assert t.loc["t2", "release_precision"] == "year"
    assert t.loc["t3", "release_date"] == pd.Timestamp("2021-03-01")
    assert t.loc["t3", "release_precision"] == "month"
    assert pd.isna(t.loc["t4", "release_date"]) and pd.isna(t.loc["t4", "release_precision"])
    assert pd.isna(t.loc["t5", "release_date"])
    assert result.quality["tracks"]["repaired"]["release_date_invalid"] == 1


def test_implausible_audio_values_are_nulled_and_counted(tmp_path, dump):
    dump["tracks"][0].update(
        tempo=0, loudness=3.5, duration_ms=3_600_000, key=13, danceability=1.7, energy="loud"
    )
    result = run(tmp_path, dump)
    t1 = result.tables["tracks"].set_index("track_id").loc["t1"]
    for column in ("tempo", "loudness", "duration_ms", "key", "danceability", "energy"):
        assert np.isnan(t1[column]), column
    assert t1["valence"] == 0.4
    repaired = result.quality["tracks"]["repaired"]
    for rule in ("tempo", "loudness", "duration_ms", "key", "danceability", "energy"):
        assert repaired[f"{rule}_implausible"] == 1, rule
    assert result.quality["tracks"]["rows_dropped"] == 0


def test_missing_and_extra_audio_columns(tmp_path, dump):
    for row in dump["tracks"]:
        row.pop("valence", None)
        row["mood_score"] = 3
    result = run(tmp_path, dump)
    t = result.tables["tracks"]
    assert t["valence"].isna().all() and t["valence"].dtype == "float64"
    assert "mood_score" not in t.columns


def test_null_user_is_repaired_from_its_session_or_dropped(tmp_path, dump):
    dump["sessions"][1]["user_id"] = None  # session 10 has user 1 elsewhere: repaired
    dump["sessions"].append(
        {
            "session_id": 30,
            "timestamp": "2024-01-05T10:00:00",
            "user_id": None,
            "track_id": "t1",
            "event_type": "play",
        }
    )
    # a session with two users: ambiguous, not repaired
    dump["sessions"] += [
        {
            "session_id": 31,
            "timestamp": "2024-01-05T11:00:00",
            "user_id": 1,
            "track_id": "t1",
            "event_type": "play",
        },
        {
            "session_id": 31,
            "timestamp": "2024-01-05T11:01:00",
            "user_id": 2,
            "track_id": "t2",
            "event_type": "play",
        },
        {
            "session_id": 31,
            "timestamp": "2024-01-05T11:02:00",
            "user_id": "",
            "track_id": "t3",
            "event_type": "play",
        },
    ]
    result = run(tmp_path, dump)
    balanced(result)
    q = result.quality["sessions"]
    assert q["repaired"]["user_id_from_session"] == 1
    assert q["dropped"]["user_id_missing"] == 2
    s = result.tables["sessions"].set_index("row_number")
    assert s.loc[2, "user_id"] == "1"
    assert s["user_id"].notna().all()


def test_exact_duplicate_events_keep_the_first_line(tmp_path, dump):
    dup = dict(dump["sessions"][0])
    dup["timestamp"] = "2024-01-01 10:00:00.000"  # the same instant, another spelling
    dump["sessions"].append(dup)
    dump["sessions"].append(dict(dump["sessions"][3], user_id=None))  # same after repair
    result = run(tmp_path, dump)
    assert result.quality["sessions"]["dropped"]["duplicate_event"] == 2
    assert sorted(result.tables["sessions"]["row_number"]) == [1, 2, 3, 4, 5, 6]
    sample = result.samples["sessions"]
    assert sample["row_number"].tolist() == [7, 8]


def test_duplicate_songs_get_the_smallest_id_and_sessions_follow(tmp_path, dump):
    dump["tracks"].append({"id": "t0", "name": "  ONE ", "id_artist": "a1", "tempo": 121})
    dump["tracks"].append({"id": "t9", "name": "One", "id_artist": "a2"})  # other artist
    dump["tracks"].append(dict(dump["tracks"][1]))  # the same id twice
    dump["track_storage"].append({"track_id": "t0", "storage_class": "fast", "daily_cost": 1})
    result = run(tmp_path, dump)
    balanced(result)
    tracks = result.tables["tracks"]
    assert tracks["track_id"].tolist() == ["t0", "t2", "t3", "t9"]
    assert result.quality["tracks"]["dropped"]["duplicate_song"] == 1
    assert result.quality["tracks"]["dropped"]["duplicate_id"] == 1
    s = result.tables["sessions"]
    assert "t1" not in set(s["track_id"])
    assert (s["track_id"] == "t0").sum() == 2
    assert result.quality["sessions"]["repaired"]["track_id_canonicalised"] == 2
    assert result.quality["sessions"]["flagged"]["unknown_track_id"] == 0
    assert "t0" in set(result.tables["track_genres"]["track_id"])


def test_duplicate_and_missing_ids_in_small_tables(tmp_path, dump):
    dump["artists"].append({"id": "a1", "name": "Again", "genres": []})
    dump["artists"].append({"id": "", "name": "Nobody", "genres": []})
    dump["users"].append({"user_id": "2", "name": "Twin"})
    dump["users"].append({"user_id": None, "name": "Ghost"})
    result = run(tmp_path, dump)
    balanced(result)
    assert result.quality["artists"]["dropped"] == {
        "malformed_json": 0,
        "artist_id_missing": 1,
        "duplicate_id": 1,
    }
    assert result.tables["artists"].set_index("artist_id").loc["a1", "name"] == "Alpha"
    assert result.quality["users"]["dropped"]["duplicate_id"] == 1
    assert result.quality["users"]["dropped"]["user_id_missing"] == 1


def test_premium_flag_spellings(tmp_path, dump):
    dump["users"][0]["premium_user"] = "TRUE"
    dump["users"][1]["premium_user"] = None
    dump["users"].append({"user_id": 3, "premium_user": 1})
    dump["users"].append({"user_id": 4, "premium_user": "no"})
    result = run(tmp_path, dump)
    assert result.tables["users"]["premium_user"].tolist() == [True, False, True, False]
    assert result.quality["users"]["repaired"]["premium_user_defaulted_false"] == 1


def test_time_window_and_complete_weeks(tmp_path, dump):
    result = run(tmp_path, dump)
    window = result.quality["window"]
    assert window["first_event"] == "2024-01-01T10:00:00"
    assert window["last_event"] == "2024-01-15T09:00:00"
    # The log covers Monday 2024-01-01 (first event 10:00) and runs past Sunday
    # 2024-01-14, so both weeks are complete (pozytywka.weeks.complete_weeks).
    assert window["complete_weeks"] == 2
    assert window["first_complete_week"] == "2024-01-01"
    assert window["last_complete_week"] == "2024-01-08"


def test_a_log_starting_mid_week_loses_that_week(tmp_path, dump):
    for row in dump["sessions"]:
        if str(row.get("timestamp", "")).startswith("2024-01-01"):
            row["timestamp"] = row["timestamp"].replace("2024-01-01", "2024-01-02")
    window = run(tmp_path, dump).quality["window"]
    assert window["first_event"] == "2024-01-02T10:00:00"
    assert window["complete_weeks"] == 1
    assert window["first_complete_week"] == "2024-01-08"


def test_dropped_sample_is_capped_per_reason(tmp_path, dump):
    dump["sessions"] += [
        {
            "session_id": 40,
            "timestamp": f"2024-01-03T10:{i:02d}:00",
            "user_id": 1,
            "track_id": None,
            "event_type": "play",
        }
        for i in range(30)
    ]
    result = run(tmp_path, dump)
    sample = result.samples["sessions"]
    assert len(sample) == 20
    assert sample["row_number"].tolist() == list(range(7, 27))  # the first lines, in order


def test_schemas_reject_what_the_contract_forbids(tmp_path, dump):
    """The pandera schemas are the contract: they catch what ingest must never emit."""
    sessions = run(tmp_path, dump).tables["sessions"]
    SCHEMAS["sessions"].validate(sessions)
    bad = sessions.copy()
    bad.loc[0, "user_id"] = None
    with pytest.raises(pandera.errors.SchemaErrors):
        SCHEMAS["sessions"].validate(bad, lazy=True)
    bad = sessions.copy()
    bad.loc[0, "track_id"] = None  # a play without a track
    with pytest.raises(pandera.errors.SchemaErrors):
        SCHEMAS["sessions"].validate(bad, lazy=True)
    bad = sessions.copy()
    bad.loc[0, "event_type"] = "PLAY"
    with pytest.raises(pandera.errors.SchemaErrors):
        SCHEMAS["sessions"].validate(bad, lazy=True)


def test_native_and_line_readers_agree_on_a_clean_dump(tmp_path, dump, monkeypatch):
    """Clean files take DuckDB's fast JSON reader; the exact reader must give the same."""
    from pozytywka.ingest import read

    dump["tracks"][0].update(duration_ms=200000.0, key=5.0, explicit=True, popularity="50")
    dump["sessions"][0]["user_id"] = 1.0
    dump["artists"][0]["genres"] = '["Pop"]'
    fast = run(tmp_path / "a", dump, gz=("users",))
    monkeypatch.setattr(read, "needs_line_reader", lambda *args: True)
    exact = run(tmp_path / "b", dump, gz=("users",))
    for table, frame in fast.tables.items():
        pd.testing.assert_frame_equal(frame, exact.tables[table])
    assert fast.quality == exact.quality


def _duckdb_sessions(frame):
    import duckdb

    con = duckdb.connect()
    con.register("frame", frame)
    con.execute("CREATE TABLE s AS SELECT * FROM frame")
    return con


def test_duckdb_validation_rejects_what_the_pandera_schema_rejects(tmp_path, dump):
    """Sessions are validated in DuckDB (never one pandas frame): the same rules apply."""
    from pozytywka.ingest.schemas import to_pandas, validate_duckdb

    sessions = run(tmp_path, dump).tables["sessions"]
    con = _duckdb_sessions(sessions)
    validate_duckdb(con, "sessions", "SELECT * FROM s")
    bad_rows = {
        "null user": "UPDATE s SET user_id = NULL WHERE row_number = 1",
        "play without a track": "UPDATE s SET track_id = NULL WHERE row_number = 1",
        "upper-case event": "UPDATE s SET event_type = 'PLAY' WHERE row_number = 1",
        "repeated row number": "UPDATE s SET row_number = 2 WHERE row_number = 1",
    }
    for update in bad_rows.values():
        con = _duckdb_sessions(sessions)
        con.execute(update)
        with pytest.raises(pandera.errors.SchemaError):
            validate_duckdb(con, "sessions", "SELECT * FROM s")
        frame = to_pandas(con.sql("SELECT * FROM s").to_arrow_table())
        with pytest.raises(pandera.errors.SchemaErrors):  # the same verdict as pandera's
            SCHEMAS["sessions"].validate(frame, lazy=True)
    con = _duckdb_sessions(sessions)
    for relation in (
        "SELECT * EXCLUDE (row_number) FROM s",  # a column missing
        "SELECT * REPLACE (row_number::INTEGER AS row_number) FROM s",  # int32, not int64
        "SELECT user_id, * EXCLUDE (user_id) FROM s",  # columns out of order
    ):
        with pytest.raises(pandera.errors.SchemaError):
            validate_duckdb(con, "sessions", relation)


def test_sessions_are_streamed_to_parquet_with_the_bytes_of_the_frame(tmp_path, dump, monkeypatch):
    """ingest_dump(write=...) writes sessions from DuckDB, row group by row group:
    the same file as writing the frame with pozytywka.io.write_parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pozytywka.ingest import pipeline
    from pozytywka.io import write_parquet

    for _ in range(3):  # 24 events: several row groups of 5 rows below
        dump["sessions"] += copy.deepcopy(dump["sessions"][:8])
    for i, event in enumerate(dump["sessions"]):
        event["session_id"] = 10 + i // 5
    folder = write_dump(tmp_path / "dump", dump)
    in_memory = ingest_dump(folder)
    frame = in_memory.tables["sessions"]
    expected = tmp_path / "expected.parquet"
    write_parquet(expected, frame)

    streamed = ingest_dump(folder, write={"sessions": tmp_path / "sessions.parquet"})
    assert "sessions" not in streamed.tables
    assert streamed.written == {"sessions": tmp_path / "sessions.parquet"}
    assert streamed.quality == in_memory.quality
    assert (tmp_path / "sessions.parquet").read_bytes() == expected.read_bytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left

    # Several row groups: the same bytes as pyarrow writing the whole table in
    # row groups of that size (write_parquet's own, at 1Mi rows, on a big table).
    monkeypatch.setattr(pipeline, "PARQUET_ROW_GROUP", 5)
    ingest_dump(folder, write={"sessions": tmp_path / "small_groups.parquet"})
    pq.write_table(
        pa.Table.from_pandas(frame, preserve_index=False),
        tmp_path / "expected_small_groups.parquet",
        compression="zstd",
        row_group_size=5,
    )
    written = pq.ParquetFile(tmp_path / "small_groups.parquet")
    assert written.metadata.num_row_groups == -(-len(frame) // 5) > 1
    assert (tmp_path / "small_groups.parquet").read_bytes() == (
        tmp_path / "expected_small_groups.parquet"
    ).read_bytes()
