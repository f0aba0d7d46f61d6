"""Tiny hand-made Pozytywka dumps for the ingest tests (written into ``tmp_path``).

A dump is given as ``{table: [row, ...]}`` where a row is a dict (written as one
JSON line) or a string (written as is: a malformed line, a blank line ...).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

TABLES = ("artists", "tracks", "users", "sessions", "track_storage")


def base_dump() -> dict[str, list[Any]]:
    """A clean, minimal dump: two artists, three tracks, two users, one week+ of events."""
    return {
        "artists": [
            {"id": "a1", "name": "Alpha", "genres": ["dance pop", "pop"]},
            {"id": "a2", "name": "Beta", "genres": ["rock"]},
        ],
        "tracks": [
            {
                "id": "t1",
                "name": "One",
                "popularity": 50,
                "duration_ms": 200000,
                "explicit": 0,
                "id_artist": "a1",
                "release_date": "2020-05-01",
                "danceability": 0.5,
                "energy": 0.6,
                "key": 5,
                "loudness": -6.5,
                "speechiness": 0.05,
                "acousticness": 0.1,
                "instrumentalness": 0.0,
                "liveness": 0.1,
                "valence": 0.4,
                "tempo": 120.0,
            },
            {
                "id": "t2",
                "name": "Two",
                "popularity": 30,
                "duration_ms": 180000,
                "explicit": 1,
                "id_artist": "a1",
                "release_date": "2019",
                "tempo": 90.0,
            },
            {
                "id": "t3",
                "name": "Three",
                "popularity": 70,
                "duration_ms": 240000,
                "explicit": 0,
                "id_artist": "a2",
                "release_date": "2021-03",
                "tempo": 100.0,
            },
        ],
        "users": [
            {
                "user_id": 1,
                "name": "Ala",
                "city": "Kraków",
                "street": "ul. A 1",
                "favourite_genres": ["pop"],
                "premium_user": True,
            },
            {
                "user_id": 2,
                "name": "Ola",
                "city": "Gdańsk",
                "street": "ul. B 2",
                "favourite_genres": ["rock"],
                "premium_user": False,
            },
        ],
        "sessions": [
            {
                "session_id": 10,
                "timestamp": "2024-01-01T10:00:00",
                "user_id": 1,
                "track_id": "t1",
                "event_type": "play",
            },
            {
                "session_id": 10,
                "timestamp": "2024-01-01T10:03:00.250",
                "user_id": 1,
                "track_id": "t2",
                "event_type": "play",
            },
            {
                "session_id": 10,
                "timestamp": "2024-01-01T10:03:30",
                "user_id": 1,
                "track_id": None,
                "event_type": "advertisment",
            },
            {
                "session_id": 11,
                "timestamp": "2024-01-09T08:00:00",
                "user_id": 2,
                "track_id": "t3",
                "event_type": "play",
            },
            {
                "session_id": 11,
                "timestamp": "2024-01-09T08:01:00",
                "user_id": 2,
                "track_id": "t3",
                "event_type": "like",
            },
            {
                "session_id": 12,
                "timestamp": "2024-01-15T09:00:00",
                "user_id": 2,
                "track_id": "t1",
                "event_type": "skip",
            },
        ],
        "track_storage": [
            {"track_id": "t1", "storage_class": "fast", "daily_cost": 0.5},
            {"track_id": "t2", "storage_class": "slow", "daily_cost": 0.1},
            {"track_id": "t3", "storage_class": "medium", "daily_cost": 0.2},
        ],
    }


def render(rows: list[Any], *, bom: bool = False, crlf: bool = False) -> bytes:
    """The bytes of one JSON-lines file."""
    newline = "\r\n" if crlf else "\n"
    text = newline.join(r if isinstance(r, str) else json.dumps(r) for r in rows) + newline
    data = text.encode("utf-8")
    return b"\xef\xbb\xbf" + data if bom else data


def write_dump(
    folder: Path,
    tables: dict[str, list[Any]],
    *,
    gz: tuple[str, ...] = (),
    bom: tuple[str, ...] = (),
    crlf: tuple[str, ...] = (),
) -> Path:
    """Write ``tables`` as a dump folder; the named tables gzipped / with BOM / CRLF."""
    folder.mkdir(parents=True, exist_ok=True)
    for table, rows in tables.items():
        data = render(rows, bom=table in bom, crlf=table in crlf)
        if table in gz:
            (folder / f"{table}.jsonl.gz").write_bytes(gzip.compress(data, mtime=0))
        else:
            (folder / f"{table}.jsonl").write_bytes(data)
    return folder
