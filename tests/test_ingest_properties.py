"""Property: any mixture of the dirt real dumps carry is ingested without a crash,
every row is accounted for, and the output honours the contract (issue 5)."""

from __future__ import annotations

import copy
import datetime as dt
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from _ingest_dumps import TABLES, base_dump, write_dump
from pozytywka.dump_format import POSITIONAL_COLUMNS
from pozytywka.ingest import ingest_dump

MISSING = object()  # the key is left out of the row

ids = st.sampled_from(["1", "2", 1, 2, 3.0, " 2 ", -1, "-1", "", None, "null", MISSING])
tracks = st.sampled_from(["t1", "t2", "t3", "t0", "T1", " t2", -1, "", None, "None", MISSING])
events = st.sampled_from(
    [
        "play",
        "PLAY",
        " Skip",
        "like",
        "LIKE",
        "advertisment",
        "ADVERTISEMENT",
        "Advertisement",
        "Buy Premium",
        "BuyPremium",
        "BUY_PREMIUM",
        "",
        None,
        MISSING,
    ]
)
timestamps = st.sampled_from(
    [
        "2024-01-02T10:00:00",
        "2024-01-02 10:00:00.123",
        "2024-01-09T23:59:59.999999",
        "2024-01-16T08:00:00Z",
        "2024-01-16T10:00:00+02:00",
        "2024-01-16 10:00:00.0 +02:00:00",
        "2024-01-16 10:00:00 +02:00",
        "2024-01-16T08:00:00z",
        "2024-01-16T09:00:00 Europe/Warsaw",
        "2024-01-16T09:00:00 Mars/Olympus",
        "2024-10-27T02:30:00 Europe/Warsaw",
        "2024-01-03",
        "not a date",
        "2024-13-45T99:00:00",
        "",
        None,
        MISSING,
    ]
)
garbage = st.sampled_from(["{oops", "[1, 2]", '"text"', "null", "42", '{"session_id": '])
blank = st.sampled_from(["", "   ", "\t"])


def _row(**values):
    return {k: v for k, v in values.items() if v is not MISSING}


session_rows = st.builds(
    _row,
    session_id=st.sampled_from([10, "10", 11, 12, 99, -1, None, "", MISSING]),
    timestamp=timestamps,
    user_id=ids,
    track_id=tracks,
    event_type=events,
)
track_rows = st.builds(
    _row,
    id=st.sampled_from(["t0", "t1", "t4", "t5", 7, -1, "", None]),
    name=st.sampled_from(["One", " one ", "Other", "Song \ud800", "", None, MISSING]),
    id_artist=st.sampled_from(["a1", "a2", "a9", -1, None, MISSING]),
    release_date=st.sampled_from(
        ["1999", "1999-07", "1999-07-04", 2001, "07/04/1999", "0000", "", None, MISSING]
    ),
    tempo=st.sampled_from([0, 120.5, 999, -3, "fast", None, MISSING]),
    loudness=st.sampled_from([-5.0, 2.0, -80, None, MISSING]),
    duration_ms=st.sampled_from([200000, 3_600_000, 0, "", MISSING]),
    explicit=st.sampled_from([0, 1, True, "yes", "maybe", None, MISSING]),
    key=st.sampled_from([0, 11, 12, 5.5, -1, MISSING]),
)
artist_rows = st.builds(
    _row,
    id=st.sampled_from(["a1", "a3", "a4", -1, "", None]),
    name=st.sampled_from(["X", "", None, MISSING]),
    genres=st.sampled_from(
        [["Pop", " pop "], [], None, "Rock, Jazz", '["a"]', "['b']", [None, ""], MISSING]
    ),
)
user_rows = st.builds(
    _row,
    user_id=ids,
    favourite_genres=st.sampled_from([["Pop"], None, "", "pop", MISSING]),
    premium_user=st.sampled_from([True, False, "TRUE", 0, "n/a", None, MISSING]),
)
storage_rows = st.builds(
    _row,
    track_id=st.sampled_from(["t1", "t9", -1, "", None]),
    storage_class=st.sampled_from(["slow", "SLOW", " Fast ", "", None, MISSING]),
    daily_cost=st.sampled_from([0.5, -1, "cheap", None, MISSING]),
)

EXTRA = {
    "artists": artist_rows,
    "tracks": track_rows,
    "users": user_rows,
    "sessions": session_rows,
    "track_storage": storage_rows,
}


@st.composite
def dirty_dumps(draw):
    """The clean base dump plus random dirty rows, junk lines and file styles.

    Junk (malformed) lines stay below the "mostly garbage" share, and the clean
    base rows keep every required key present: this is recoverable input.
    """
    dump = copy.deepcopy(base_dump())
    for table in TABLES:
        rows = dump[table] + draw(st.lists(EXTRA[table], max_size=12))
        junk = draw(st.lists(garbage, max_size=len(rows) // 2))
        blanks = draw(st.lists(blank, max_size=3))
        for line in junk + blanks:
            rows.insert(draw(st.integers(0, len(rows))), line)
        dump[table] = rows
    for table in TABLES:  # the positional edition: some object lines written as arrays
        if draw(st.booleans()):
            dump[table] = [
                positional(table, r) if isinstance(r, dict) and draw(st.booleans()) else r
                for r in dump[table]
            ]
    styles = {
        kind: tuple(t for t in TABLES if draw(st.booleans())) for kind in ("gz", "bom", "crlf")
    }
    return dump, styles


def positional(table: str, row: dict) -> list:
    """``row`` as the positional edition writes it (a missing key is a null)."""
    return [row.get(key) for key in POSITIONAL_COLUMNS[table]]


@settings(max_examples=25)
@given(dirty_dumps())
def test_any_recoverable_dump_is_ingested_and_fully_accounted_for(case):
    dump, styles = case
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_dump(Path(tmp) / "dump", dump, **styles)
        result = ingest_dump(folder)  # validates every table against its schema
    for table in TABLES:
        q = result.quality[table]
        non_blank = sum(1 for r in dump[table] if not (isinstance(r, str) and not r.strip()))
        assert q["rows_read"] == non_blank
        assert q["rows_read"] == q["rows_kept"] + q["rows_dropped"]
        assert q["rows_dropped"] == sum(q["dropped"].values())
        assert len(result.tables[table]) == q["rows_kept"]
        assert all(v >= 0 for v in q["repaired"].values())
    sessions = result.tables["sessions"]
    assert sessions["user_id"].notna().all()
    assert (
        not sessions.duplicated(
            ["session_id", "timestamp", "user_id", "track_id", "event_type"]
        ).any()
        or result.quality["sessions"]["repaired"]["track_id_canonicalised"] > 0
    )
    unknown = sessions["track_id"].notna() & ~sessions["track_id"].isin(
        result.tables["tracks"]["track_id"]
    )
    assert unknown.sum() == result.quality["sessions"]["flagged"]["unknown_track_id"]


# ------------------------------------------------------------------ timestamp spellings (issue 9)

#: Zones with summer time (Warsaw, New York), a half-hour one (Kolkata) and one whose
#: summer time moves the clock by 30 minutes (Lord Howe).
ZONES = ("Europe/Warsaw", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
UTC = dt.UTC


def _offset_text(seconds: int, style: str) -> str:
    sign = "-" if seconds < 0 else "+"
    h, rest = divmod(abs(seconds), 3600)
    m, s = divmod(rest, 60)
    return {
        "colon": f"{sign}{h:02d}:{m:02d}",
        "compact": f"{sign}{h:02d}{m:02d}",
        "hours": f"{sign}{h:02d}",
        "seconds": f"{sign}{h:02d}:{m:02d}:{s:02d}",
        "utc": f"UTC{sign}{h:02d}:{m:02d}",
    }[style]


@st.composite
def spelled_instants(draw):
    """(text, expected naive UTC or None when the local time is ambiguous in its zone).

    The expected value comes from Python's own zoneinfo and datetime arithmetic,
    independent of ingest's SQL parser.
    """
    instant = dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(
        seconds=draw(st.integers(0, 366 * 86400 - 1)),
        microseconds=draw(st.sampled_from([0, 0, 500_000, 123_000, 123_456])),
    )
    zone = draw(st.sampled_from(["none", "utc", "offset", "named"]))
    expected: dt.datetime | None = instant.replace(tzinfo=None)
    if zone == "none":
        local, suffix = instant, ""
    elif zone == "utc":
        local, suffix = instant, draw(st.sampled_from(["Z", "z", "UTC", "+00:00", "+00:00:00"]))
    elif zone == "offset":
        seconds = draw(st.integers(-12, 14)) * 3600 + draw(st.sampled_from([0, 1800, 2700]))
        style = draw(st.sampled_from(["colon", "compact", "seconds", "utc"]))
        if seconds % 3600 == 0 and draw(st.booleans()):
            style = "hours"
        if style == "seconds" and draw(st.booleans()):
            seconds += 15 if seconds >= 0 else -15
        local, suffix = instant + dt.timedelta(seconds=seconds), _offset_text(seconds, style)
    else:
        name = draw(st.sampled_from(ZONES))
        local = instant.astimezone(ZoneInfo(name))
        wall = local.replace(tzinfo=None)
        folds = {wall.replace(tzinfo=ZoneInfo(name), fold=f).utcoffset() for f in (0, 1)}
        if len(folds) > 1:
            expected = None  # the wall-clock time happens twice there: never guessed
        suffix = draw(st.sampled_from(["", " "])) + draw(st.sampled_from([name, name.lower()]))
    if zone != "named" and suffix:
        suffix = draw(st.sampled_from(["", " "])) + suffix
    sep = draw(st.sampled_from(["T", " ", "t"]))
    text = local.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if local.microsecond or draw(st.booleans()):  # a fraction of 1, 3 or 6 digits
        digits = f"{local.microsecond:06d}"[: draw(st.sampled_from([1, 3, 6]))]
        text += "." + digits
        if expected is not None:  # what was written is the value
            expected = expected.replace(microsecond=int(digits.ljust(6, "0")))
    return text + suffix, expected


@settings(max_examples=15, deadline=None)
@given(st.lists(spelled_instants(), min_size=1, max_size=25))
def test_valid_rows_in_every_timestamp_spelling_are_kept_with_the_right_value(cases):
    dump = copy.deepcopy(base_dump())
    first = len(dump["sessions"])
    for i, (text, _) in enumerate(cases):
        dump["sessions"].append(
            {
                "session_id": 1000 + i,
                "timestamp": text,
                "user_id": 1,
                "track_id": "t1",
                "event_type": "play",
            }
        )
    with tempfile.TemporaryDirectory() as tmp:
        result = ingest_dump(write_dump(Path(tmp) / "dump", dump))
    s = result.tables["sessions"].set_index("row_number")["timestamp"]
    for i, (text, expected) in enumerate(cases):
        row = first + i + 1
        if expected is None:
            assert row not in s.index, text
        else:
            assert s.loc[row] == pd.Timestamp(expected), text
    q = result.quality["sessions"]
    ambiguous = sum(expected is None for _, expected in cases)
    assert q["dropped"]["timestamp_zone_ambiguous"] == ambiguous
    assert q["rows_dropped"] == ambiguous


# --- valid rows in every accepted spelling are all kept, with the right values ----------
#
# Each accepted spelling of a field is one entry below: (name, value -> text or
# JSON value, the canonical value ingest must give back). A new spelling that
# ingest learns is one more line here; the property then checks it.


def _ts(fmt: str, offset_minutes: int = 0, suffix: str = "", pad: str = ""):
    """A spelling of instant ``t`` (naive UTC): local time at the offset, then a suffix."""

    def spell(t: datetime) -> str:
        return f"{pad}{(t + timedelta(minutes=offset_minutes)).strftime(fmt)}{suffix}{pad}"

    return spell


def _floor(unit: str):
    return lambda t: pd.Timestamp(t).floor(unit)


#: name -> (spelling of the instant, the instant ingest must keep)
TIMESTAMP_SPELLINGS = {
    "iso T, seconds": (_ts("%Y-%m-%dT%H:%M:%S"), _floor("s")),
    "space, seconds": (_ts("%Y-%m-%d %H:%M:%S"), _floor("s")),
    "iso T, microseconds": (_ts("%Y-%m-%dT%H:%M:%S.%f"), _floor("us")),
    "space, microseconds": (_ts("%Y-%m-%d %H:%M:%S.%f"), _floor("us")),
    "Z suffix": (_ts("%Y-%m-%dT%H:%M:%SZ"), _floor("s")),
    "Z suffix, microseconds": (_ts("%Y-%m-%dT%H:%M:%S.%fZ"), _floor("us")),
    "+02:00 offset": (_ts("%Y-%m-%dT%H:%M:%S", 120, "+02:00"), _floor("s")),
    "-0430 offset, microseconds": (_ts("%Y-%m-%dT%H:%M:%S.%f", -270, "-0430"), _floor("us")),
    "+05 offset": (_ts("%Y-%m-%dT%H:%M:%S", 300, "+05"), _floor("s")),
    " UTC suffix": (_ts("%Y-%m-%d %H:%M:%S", 0, " UTC"), _floor("s")),
    "padded with spaces": (_ts("%Y-%m-%dT%H:%M:%S", pad=" "), _floor("s")),
    "date only": (_ts("%Y-%m-%d"), _floor("D")),
}


def _event_spellings() -> list[tuple[str, str]]:
    """(spelling, canonical event type): canonical, case and padding variants, aliases."""
    from pozytywka.ingest.clean import EVENT_SPELLINGS

    out = []
    for canonical in ("play", "skip", "like", "advertisement"):
        for word in (canonical, *EVENT_SPELLINGS.get(canonical, ())):
            out += [(word, canonical), (word.upper(), canonical), (f" {word.title()} ", canonical)]
    return out


EVENT_TYPES = _event_spellings()
#: canonical user id -> (its session id, spellings of the user id, of the session id)
USERS = {
    "1": ("10", [1, "1", " 1 ", 1.0, "1.0"], [10, "10", " 10", 10.0]),
    "2": ("11", [2, "2", "2 ", 2.0], [11, "11", "11.0"]),
}
TRACK_SPELLINGS = {"t1": ["t1", " t1 "], "t2": ["t2", "t2 "], "t3": ["t3"]}


@st.composite
def valid_session_rows(draw):
    """A list of (JSON row, expected interim values), distinct after canonicalisation."""
    n = draw(st.integers(5, 40))
    seen, rows = set(), []
    for _ in range(n):
        instant = datetime(2024, 1, 1) + timedelta(
            seconds=draw(st.integers(0, 60 * 86_400)), microseconds=draw(st.integers(0, 999_999))
        )
        name = draw(st.sampled_from(sorted(TIMESTAMP_SPELLINGS)))
        spell, keep = TIMESTAMP_SPELLINGS[name]
        user = draw(st.sampled_from(sorted(USERS)))
        session, user_spellings, session_spellings = USERS[user]
        event_text, event = draw(st.sampled_from(EVENT_TYPES))
        track = None if event == "advertisement" else draw(st.sampled_from(sorted(TRACK_SPELLINGS)))
        expected = (session, keep(instant), user, track, event)
        if expected in seen:  # an exact duplicate event is dropped by design
            continue
        seen.add(expected)
        row = {
            "session_id": draw(st.sampled_from(session_spellings)),
            "timestamp": spell(instant),
            "user_id": draw(st.sampled_from(user_spellings)),
            "event_type": event_text,
        }
        if track is not None:
            row["track_id"] = draw(st.sampled_from(TRACK_SPELLINGS[track]))
        elif draw(st.booleans()):
            row["track_id"] = None
        rows.append((row, expected))
    return rows


@settings(max_examples=8)  # up to 40 rows each: every spelling is drawn many times
@given(valid_session_rows())
def test_valid_rows_in_every_accepted_spelling_are_all_kept_with_their_values(rows):
    dump = copy.deepcopy(base_dump())
    dump["sessions"] = [row for row, _ in rows]
    with tempfile.TemporaryDirectory() as tmp:
        result = ingest_dump(write_dump(Path(tmp) / "dump", dump))
    q = result.quality["sessions"]
    assert q["rows_dropped"] == 0, (q["dropped"], rows)
    got = result.tables["sessions"].sort_values("row_number")
    assert list(got["row_number"]) == list(range(1, len(rows) + 1))
    kept = [
        (
            str(r.session_id),
            pd.Timestamp(r.timestamp),
            str(r.user_id),
            None if pd.isna(r.track_id) else str(r.track_id),
            r.event_type,
        )
        for r in got.itertuples()
    ]
    assert kept == [expected for _, expected in rows]


def test_every_timestamp_spelling_is_generated():
    """The generator draws from every spelling (guards an entry nobody exercises)."""
    instant = datetime(2024, 1, 3, 10, 0, 0, 250_000)
    texts = {name: spell(instant) for name, (spell, _) in TIMESTAMP_SPELLINGS.items()}
    assert texts["-0430 offset, microseconds"] == "2024-01-03T05:30:00.250000-0430"
    assert texts["+02:00 offset"] == "2024-01-03T12:00:00+02:00"
    assert len(set(texts.values())) == len(texts)
