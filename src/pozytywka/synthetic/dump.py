"""The five JSON-lines files of a Pozytywka dump (DESIGN §3), rendered fast and byte-stable.

Small tables (artists, tracks, users, track storage) are rendered row by row
with ``json.dumps``: a few thousand rows, and the dirt there is per field.
``sessions.jsonl`` holds millions of rows, so it is rendered column-wise with
Arrow string kernels: each column becomes an array of ``"key": value``
fragments (taken from a small vocabulary for ids and event types, built with
numpy byte arithmetic for timestamps), a missing key is a null fragment, and
one element-wise join per chunk of :data:`CHUNK_ROWS` rows makes the lines.
The result is identical bytes for identical inputs (no hash order, no clock;
gzip members carry mtime 0 and no file name).
"""

from __future__ import annotations

import gzip
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import dirt as d
from .simulate import Events
from .world import AUDIO_COLUMNS, MICROS_PER_WEEK, STREAM_DIRT, World

CHUNK_ROWS = 1_000_000
_DAY_US = 86_400 * 1_000_000
MALFORMED_KEEP = 40  # a malformed line is its first characters only
_MISSABLE = ("popularity", "release_date", "key", "liveness")  # track fields heavy dirt blanks
_AUDIO_DECIMALS = {"loudness": 3, "tempo": 3, "key": None}


@dataclass
class DumpFile:
    """One file of the dump: its lines (without terminators) and how it is written."""

    name: str
    chunks: Callable[[str], Iterator[pa.Array]]  # terminator -> chunks of terminated lines
    bom: bool = False
    crlf: bool = False
    gz: bool = False
    trailing_blank: bool = False

    @property
    def filename(self) -> str:
        return f"{self.name}.jsonl" + (".gz" if self.gz else "")


def _dumps(row: dict[str, Any]) -> str:
    return json.dumps(row, ensure_ascii=False)


def _lines(rows: list[str]) -> Callable[[str], Iterator[pa.Array]]:
    return lambda term: iter([pa.array([r + term for r in rows], type=pa.string())])


def _set_missing(
    row: dict[str, Any], key: str, rng: np.random.Generator, profile: d.DirtProfile
) -> None:
    """Write ``row[key]`` as "no value" in one of the profile's styles (null, "" or no key)."""
    style = int(d.missing_style(rng, 1, profile)[0])
    if style == d.MISSING:
        row.pop(key, None)
    else:
        row[key] = None if style == d.NULL else ""


def _pick_rows(
    rng: np.random.Generator, n: int, rate: float, at_least: int = 1, exact: bool = True
) -> np.ndarray:
    """Exactly ``round(rate * n)`` random rows (at least ``at_least`` when ``rate`` > 0).

    Small tables get each kind of dirt at least once in their first block, so a
    tiny heavy dump still shows every variant. The rows a later week adds
    (``exact=False``) are each picked with chance ``rate`` instead, so a week of a
    few new tracks is not forced to carry every kind of dirt.
    """
    if not exact:
        return rng.random(n) < rate
    mask = np.zeros(n, dtype=bool)
    if rate > 0 and n:
        k = min(n, max(at_least, int(round(rate * n))))
        mask[rng.choice(n, size=k, replace=False)] = True
    return mask


def _drop_list(row: dict[str, Any], key: str, k: int) -> None:
    """A null list: every other one written as ``null``, the rest as a missing key."""
    if k % 2 == 0:
        row[key] = None
    else:
        del row[key]


def _genres(names: list[str], rng: np.random.Generator, profile: d.DirtProfile) -> list[str]:
    if profile.genre_case <= 0:
        return names
    return [d.vary_genre(rng, g) if rng.random() < profile.genre_case else g for g in names]


def _malformed(
    lines: list[str], rng: np.random.Generator, rate: float, exact: bool = True
) -> list[str]:
    """Cut a few lines short (see :func:`_pick_rows`: at least one in the first block)."""
    if rate <= 0 or not lines:
        return lines
    for i in np.nonzero(_pick_rows(rng, len(lines), rate, 1, exact))[0]:
        lines[i] = lines[i][:MALFORMED_KEEP]
    return lines


BlockRng = Callable[[int], np.random.Generator]


def _blocks(block_of: np.ndarray, n_blocks: int) -> list[np.ndarray]:
    """Positions of the rows of each block 0 .. n_blocks-1 (blocks are contiguous and sorted)."""
    bounds = np.searchsorted(block_of, np.arange(n_blocks + 1), side="left")
    return [np.arange(bounds[b], bounds[b + 1]) for b in range(n_blocks)]


def _release_strings(
    release_date: np.ndarray, rng: np.random.Generator, profile: d.DirtProfile, n: int
) -> np.ndarray:
    """Release dates at mixed precision: ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``."""
    dates = np.datetime_as_string(release_date, unit="D")
    old = release_date < np.datetime64("2015-01-01")
    u = rng.random(n)
    year_p = np.where(old, 2 * profile.release_year, profile.release_year)
    as_year = u < year_p
    as_month = (~as_year) & (u < year_p + profile.release_month)
    return np.where(
        as_year, np.char.ljust(dates, 4).astype("U4"), np.where(as_month, dates.astype("U7"), dates)
    )


def artist_lines(world: World, profile: d.DirtProfile, rng: np.random.Generator) -> list[str]:
    lines = []
    genres = world.genre_names.tolist()
    null_list = _pick_rows(rng, len(world.artist_ids), profile.null_list, at_least=2)
    k = 0
    for i in range(len(world.artist_ids)):
        row: dict[str, Any] = {"id": str(world.artist_ids[i]), "name": str(world.artist_names[i])}
        g = [genres[k] for k in world.artist_genres[i] if k >= 0]
        row["genres"] = _genres(g, rng, profile)
        if null_list[i]:
            _drop_list(row, "genres", k)
            k += 1
        lines.append(_dumps(row))
    return lines


def track_lines(world: World, profile: d.DirtProfile, rng_of: BlockRng) -> list[str]:
    """Tracks out before the dump's end, block by block (the catalogue, then each week's
    releases), each block followed by (heavy dirt) its alias rows: the same song under
    a second id. Each block's dirt comes from its own stream ``rng_of(block)``, so one
    more week appends lines and changes none.
    """
    lines: list[str] = []
    for b, idx in enumerate(_blocks(world.track_block, world.n_weeks + 1)):
        lines += _track_block_lines(world, profile, rng_of(b), idx, first=b == 0)
    return lines


def _track_block_lines(
    world: World, profile: d.DirtProfile, rng: np.random.Generator, idx: np.ndarray, first: bool
) -> list[str]:
    rows = idx.tolist()
    alias_ids: list[str | None] = [None] * len(rows)
    if profile.duplicate_tracks and len(idx):
        mine = (world.alias_track >= idx[0]) & (world.alias_track <= idx[-1])
        rows += world.alias_track[mine].tolist()
        alias_ids += world.alias_ids[mine].tolist()
    if not rows:
        return []
    release = _release_strings(world.release_date[rows], rng, profile, len(rows))
    audio = {}
    for col in AUDIO_COLUMNS:
        dec = _AUDIO_DECIMALS.get(col, 4)
        vals = world.audio[col]
        audio[col] = vals.tolist() if dec is None else np.round(vals, dec).tolist()
    duration = world.duration_ms.tolist()
    popularity = world.popularity.tolist()
    explicit = world.explicit.tolist()
    artist = world.artist_ids[world.track_artist].tolist()
    names = world.track_names.tolist()
    ids = world.track_ids.tolist()
    n = len(rows)
    tempo0 = _pick_rows(rng, n, profile.implausible_tempo, exact=first)
    loud = _pick_rows(rng, n, profile.implausible_loudness, exact=first)
    long = _pick_rows(rng, n, profile.implausible_duration, exact=first)
    missing = _pick_rows(rng, n, profile.missing_field, at_least=len(_MISSABLE), exact=first)
    n_missing = 0
    lines = []
    for j, i in enumerate(rows):
        is_alias = alias_ids[j] is not None
        row: dict[str, Any] = {
            "id": alias_ids[j] if is_alias else ids[i],
            "name": names[i],
            "popularity": max(0, popularity[i] - 15) if is_alias else popularity[i],
            "duration_ms": duration[i],
            "explicit": explicit[i],
            "id_artist": artist[i],
            "release_date": str(release[j]),
        }
        for col in AUDIO_COLUMNS:
            row[col] = audio[col][i]
        if tempo0[j]:
            row["tempo"] = 0.0
        if loud[j]:
            row["loudness"] = round(float(rng.uniform(0.3, 4.0)), 3)
        if long[j]:
            row["duration_ms"] = int(rng.integers(3_600_000, 7_200_000))
        if missing[j]:  # each of the four fields in turn
            _set_missing(row, _MISSABLE[n_missing % len(_MISSABLE)], rng, profile)
            n_missing += 1
        lines.append(_dumps(row))
    return lines


def user_lines(world: World, profile: d.DirtProfile, rng_of: BlockRng) -> list[str]:
    """Users signed up before the dump's end, block by block (first users, then each
    week's sign-ups), each block's dirt from its own stream."""
    genres = world.genre_names.tolist()
    lines = []
    for b, idx in enumerate(_blocks(world.user_block, world.n_weeks + 1)):
        rng = rng_of(b)
        null_list = _pick_rows(rng, len(idx), profile.null_list, at_least=2, exact=b == 0)
        k = 0
        for j, i in enumerate(idx.tolist()):
            row: dict[str, Any] = {
                "user_id": str(world.user_ids[i]),
                "name": str(world.user_names[i]),
                "city": str(world.user_city[i]),
                "street": str(world.user_street[i]),
                "favourite_genres": _genres(
                    [genres[k] for k in world.user_fav[i] if k >= 0], rng, profile
                ),
                "premium_user": bool(world.premium[i]),
            }
            if null_list[j]:
                _drop_list(row, "favourite_genres", k)
                k += 1
            lines.append(_dumps(row))
    return lines


def storage_lines(world: World, profile: d.DirtProfile, rng_of: BlockRng) -> list[str]:
    """Storage rows of the dump's tracks (and aliases), block by block like :func:`track_lines`."""
    out: list[str] = []
    for b, idx in enumerate(_blocks(world.track_block, world.n_weeks + 1)):
        rng = rng_of(b)
        rows = idx.tolist()
        ids = world.track_ids[idx].tolist()
        if profile.duplicate_tracks and len(idx):
            mine = (world.alias_track >= idx[0]) & (world.alias_track <= idx[-1])
            rows += world.alias_track[mine].tolist()
            ids += world.alias_ids[mine].tolist()
        lines = []
        for j, i in enumerate(rows):
            cls = str(world.storage_class[i])
            if profile.case_variant > 0 and rng.random() < profile.case_variant:
                cls = d.vary_case(rng, d.STORAGE_CLASS_VARIANTS[cls])
            row = {
                "track_id": ids[j],
                "storage_class": cls,
                "daily_cost": float(world.daily_cost[i]),
            }
            lines.append(_dumps(row))
        out += _malformed(lines, rng, profile.malformed_lines, exact=b == 0)
    return out


# --- sessions: column-wise ------------------------------------------------------


def _keyed(key: str, values: list[str]) -> list[str]:
    """``, "key": value`` fragments, then the special values VALUE+1.. (see ``dirt``).

    A missing key is an empty fragment, so one join with no separator makes the line.
    """
    k = json.dumps(key)
    return [f", {k}: {v}" for v in values] + [f", {k}: null", f', {k}: ""', "", f", {k}: -1"]


def timestamp_strings(us: np.ndarray, fraction: np.ndarray) -> pa.Array:
    """ISO timestamps (naive UTC) from microseconds: ``...THH:MM:SS.ffffff`` or ``...THH:MM:SS``."""
    n = len(us)
    if n == 0:
        return pa.array([], type=pa.string())
    days, rem = np.divmod(us.astype(np.int64), _DAY_US)
    first = days.min()
    span = np.arange(first, days.max() + 1)
    date_bytes = (
        np.datetime_as_string(span.astype("datetime64[D]")).astype("S10").view(np.uint8)
    ).reshape(-1, 10)
    mat = np.empty((n, 26), dtype=np.uint8)
    mat[:, :10] = date_bytes[days - first]
    mat[:, 10] = ord("T")
    mat[:, 13] = mat[:, 16] = ord(":")
    mat[:, 19] = ord(".")
    secs, micro = np.divmod(rem, 1_000_000)
    fields = ((11, secs // 3600, 2), (14, secs // 60 % 60, 2), (17, secs % 60, 2), (20, micro, 6))
    for pos, value, width in fields:
        for k in range(width):
            mat[:, pos + width - 1 - k] = 48 + (value // 10**k) % 10
    lengths = np.where(fraction, 26, 19)
    keep = np.arange(26)[None, :] < lengths[:, None]
    data = mat[keep]
    offsets = np.concatenate(([0], np.cumsum(lengths))).astype(np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def _session_chunks(world: World, rows: d.SessionRows) -> Callable[[str], Iterator[pa.Array]]:
    users = world.user_ids.tolist()
    user_vocab = pa.array(
        _keyed("user_id", [json.dumps(u) for u in users]) + [f', "user_id": {u}' for u in users],
        type=pa.string(),
    )
    track_ids = world.track_ids.tolist() + world.alias_ids.tolist()
    track_vocab = pa.array(_keyed("track_id", [json.dumps(t) for t in track_ids]), pa.string())
    etype_vocab = pa.array(
        _keyed("event_type", [json.dumps(t) for t in d.EVENT_TYPE_VOCAB]), pa.string()
    )
    n_u, n_t, n_e = len(users), len(track_ids), len(d.EVENT_TYPE_VOCAB)

    def styled(values: np.ndarray, style: np.ndarray, n_vocab: int) -> pa.Array:
        idx = np.where(style == d.VALUE, values, n_vocab + style.astype(np.int64) - 1)
        return pa.array(np.where(style == d.AS_INT, n_vocab + 4 + values, idx))

    def chunks(term: str) -> Iterator[pa.Array]:
        for lo in range(0, len(rows), CHUNK_ROWS):
            hi = min(lo + CHUNK_ROWS, len(rows))
            sl = slice(lo, hi)
            user = user_vocab.take(styled(rows.user[sl], rows.user_style[sl], n_u))
            track = track_vocab.take(
                styled(np.maximum(rows.track[sl], 0), rows.track_style[sl], n_t)
            )
            etype = etype_vocab.take(
                styled(rows.etype[sl].astype(np.int64), rows.etype_style[sl], n_e)
            )
            line = pc.binary_join_element_wise(
                '{"session_id": "',
                pa.array(rows.session[sl]).cast(pa.string()),
                '", "timestamp": "',
                timestamp_strings(rows.ts[sl], rows.fraction[sl]),
                '"',
                user,
                track,
                etype,
                "}" + term,
                "",
            )
            bad = rows.malformed[sl]
            if bad.any():
                cut = pc.binary_join_element_wise(
                    pc.utf8_slice_codeunits(line, 0, MALFORMED_KEEP), term, ""
                )
                line = pc.if_else(pa.array(bad), cut, line)
            blank = rows.blank_after[sl]
            if blank.any():
                count = 1 + blank.astype(np.int64)
                pos = np.repeat(np.arange(hi - lo), count)
                extra = np.zeros(len(pos), dtype=bool)
                extra[np.cumsum(count)[blank] - 1] = True
                line = pa.concat_arrays([line, pa.array([term])]).take(
                    pa.array(np.where(extra, hi - lo, pos))
                )
            yield line

    return chunks


def build_dump(world: World, events: Events, profile: d.DirtProfile) -> dict[str, DumpFile]:
    """The five files of the dump for the clean ``events``, with ``profile``'s dirt.

    Each table's dirt draws from its own stream (seeded by the params seed), and
    inside a table from one stream per block (a week of sessions, a week's new
    tracks or sign-ups), so the files are deterministic, independent of each other's
    size, and one more week of horizon only appends lines (except where the format
    cannot: gzip bytes, the heavy profile's partial last week and final blank line).
    ``events`` must be week-major (as :func:`~.simulate.history_events` returns them).
    """
    seed = int(world.params.seed)

    def rng(k: int) -> np.random.Generator:
        return np.random.default_rng([seed, STREAM_DIRT, k])

    def block_rng(k: int) -> BlockRng:
        return lambda b: np.random.default_rng([seed, STREAM_DIRT, k, b + 1])

    week = (events.ts - world.week_start(0).value // 1000) // MICROS_PER_WEEK
    bounds = np.searchsorted(week, np.arange(world.n_weeks + 1), side="left")
    if len(week) and (np.diff(week) < 0).any():
        raise ValueError("build_dump needs week-major events (history_events order)")
    rows = d.SessionRows.concat(
        [
            d.dirty_sessions(
                world,
                events.take(np.arange(bounds[w], bounds[w + 1])),
                profile,
                block_rng(0)(w),
            )
            for w in range(world.n_weeks)
        ]
    )
    tables = {
        "artists": _lines(artist_lines(world, profile, rng(1))),
        "tracks": _lines(track_lines(world, profile, block_rng(2))),
        "users": _lines(user_lines(world, profile, block_rng(3))),
        "sessions": _session_chunks(world, rows),
        "track_storage": _lines(storage_lines(world, profile, block_rng(4))),
    }
    heavy_blank = profile.blank_lines > 0
    return {
        name: DumpFile(
            name=name,
            chunks=chunks,
            bom=name in profile.bom_files,
            crlf=name in profile.crlf_files,
            gz=name in profile.gzip_files,
            trailing_blank=heavy_blank,
        )
        for name, chunks in tables.items()
    }


def _line_bytes(out: pa.Array) -> memoryview:
    """The bytes of a string array's values, back to back (no copy)."""
    if out.null_count:
        raise AssertionError("a rendered dump line is null")
    offsets = np.frombuffer(out.buffers()[1], dtype=np.int32)[
        out.offset : out.offset + len(out) + 1
    ]
    return memoryview(out.buffers()[2])[offsets[0] : offsets[-1]]


def write_dump(files: dict[str, DumpFile], directory: str | os.PathLike[str]) -> dict[str, int]:
    """Write the files into ``directory`` (which must exist); returns lines written per file."""
    directory = Path(directory)
    counts = {}
    for f in files.values():
        term = "\r\n" if f.crlf else "\n"
        with open(directory / f.filename, "wb") as raw:
            stream: io.BufferedIOBase = (
                gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
                if f.gz
                else raw
            )
            try:
                if f.bom:
                    stream.write("\ufeff".encode())
                n = 0
                for chunk in f.chunks(term):
                    stream.write(_line_bytes(chunk))
                    n += len(chunk)
                if f.trailing_blank:
                    stream.write(term.encode())
            finally:
                if f.gz:
                    stream.close()
        counts[f.name] = n
    return counts
