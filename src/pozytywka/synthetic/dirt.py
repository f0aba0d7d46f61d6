"""Dirt: make a clean simulated history look like a real Pozytywka dump.

Dirt is applied *after* simulation, from its own random stream, so the same
params give the same clean history under every profile, and the clean world
(the ``none`` profile) is always there to compare with. Three profiles
(``data.synthetic.dirt``):

* ``none``: the exact DESIGN §3 format, every value present and well-typed.
* ``standard``: what DESIGN §3 says real dumps do: a few percent null
  ``user_id`` / ``track_id`` / ``event_type`` in sessions, timestamps with and
  without fractional seconds, release dates as ``YYYY``, ``YYYY-MM`` or
  ``YYYY-MM-DD``.
* ``heavy``: everything issue 5 lists (see :data:`HEAVY` field by field):
  enum case and spelling variants, unknown event types, "no value" as
  ``null``/``""``/missing key, integer ``-1`` sentinel ids, null lists, tied
  timestamps in an unreliable order, sessions not in time order, null ids
  recoverable from their session, implausible audio values, the same song
  under two ids, partial first and last weeks, a UTF-8 BOM, CRLF line endings,
  blank and malformed lines, and gzipped files.

Rates are fractions of the rows of the table concerned unless a field says
otherwise. The functions here are pure: numeric events and a generator in,
numeric events and per-row "style" codes out; ``dump.py`` renders them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import ParamError
from .simulate import EVENT_TYPES, PLAY, SKIP, Events
from .world import World

# How a value is written (codes shared with dump.py).
VALUE, NULL, EMPTY, MISSING, SENTINEL, AS_INT = 0, 1, 2, 3, 4, 5

#: Spelling variants of each event type that heavy dumps mix in (canonical first in EVENT_TYPES).
EVENT_TYPE_VARIANTS: dict[str, tuple[str, ...]] = {
    "play": ("PLAY", "Play"),
    "skip": ("SKIP", "Skip"),
    "like": ("LIKE", "Like"),
    "advertisment": ("ADVERTISEMENT", "advertisement", "Advertisment"),
}
#: Event types some editions have and the others lack (ingest counts and ignores them).
UNKNOWN_EVENT_TYPES = ("pause", "seek", "share", "PAUSE")
#: All event type spellings a dump can hold; event codes in :class:`SessionRows` index this.
EVENT_TYPE_VOCAB: tuple[str, ...] = (
    EVENT_TYPES
    + tuple(v for t in EVENT_TYPES for v in EVENT_TYPE_VARIANTS[t])
    + UNKNOWN_EVENT_TYPES
)
STORAGE_CLASS_VARIANTS = {
    "slow": ("SLOW", "Slow"),
    "medium": ("MEDIUM", "Medium"),
    "fast": ("FAST", "Fast"),
}


@dataclass(frozen=True)
class DirtProfile:
    """Rates of each kind of dirt (0 / False / empty: that kind is off)."""

    # --- standard (DESIGN §3) ---
    null_user_id: float = 0.0
    """Session rows whose ``user_id`` is missing (most are recoverable from the session)."""
    null_track_id: float = 0.0
    """Session rows with a track whose ``track_id`` is missing (ads never have one)."""
    null_event_type: float = 0.0
    """Session rows whose ``event_type`` is missing."""
    ts_without_fraction: float = 0.0
    """Session timestamps written without fractional seconds (the rest: microseconds)."""
    release_month: float = 0.0
    """Tracks whose ``release_date`` is ``YYYY-MM``."""
    release_year: float = 0.0
    """Tracks whose ``release_date`` is ``YYYY`` (more often for old releases: x2 before 2015)."""
    # --- heavy (issue 5) ---
    missing_styles: tuple[float, float, float] = (1.0, 0.0, 0.0)
    """How a missing value is written: shares of ``null``, ``""`` and a missing key."""
    sentinel_id: float = 0.0
    """Session rows whose ``user_id`` or ``track_id`` is the integer ``-1`` (each)."""
    int_user_id: float = 0.0
    """Session rows whose ``user_id`` is written as a JSON number (``101``, not ``"101"``)."""
    case_variant: float = 0.0
    """Enum values (event types, storage classes) in another case or spelling."""
    unknown_events: float = 0.0
    """Extra events of a type other editions lack, per play (inserted after it)."""
    tie: float = 0.0
    """Skips followed by a play whose play gets the skip's timestamp (the same instant)."""
    tie_swapped: float = 0.0
    """Of those ties, the share written play-first (the order of ties is not reliable)."""
    shuffle_sessions: bool = False
    """A user's sessions in random order (the file is grouped by user/session, not time)."""
    null_list: float = 0.0
    """Artists' ``genres`` and users' ``favourite_genres`` written as null or left out."""
    genre_case: float = 0.0
    """Genre names with other case or padding (``"Dance Pop"``, ``" dance pop "``)."""
    missing_field: float = 0.0
    """Track rows with one of ``popularity``, ``release_date``, ``key``, ``liveness`` missing."""
    implausible_tempo: float = 0.0
    """Tracks with ``tempo`` 0."""
    implausible_loudness: float = 0.0
    """Tracks with ``loudness`` above 0 dB."""
    implausible_duration: float = 0.0
    """Tracks lasting an hour or more (``duration_ms`` >= 3,600,000)."""
    duplicate_tracks: bool = False
    """Write the world's alias tracks: the same song (name, artist) under a second id."""
    alias_use: float = 0.0
    """Of the events of a song with an alias, the share that reference the alias id."""
    partial_weeks: bool = False
    """Drop the events before the first Wednesday noon and after the last Thursday noon."""
    bom_files: tuple[str, ...] = ()
    """Files that start with a UTF-8 byte-order mark."""
    crlf_files: tuple[str, ...] = ()
    """Files with CRLF line endings."""
    gzip_files: tuple[str, ...] = ()
    """Files written as ``.jsonl.gz`` instead of ``.jsonl``."""
    blank_lines: float = 0.0
    """Blank lines inserted after this share of session lines (plus one at each file end)."""
    malformed_lines: float = 0.0
    """Session and storage lines cut short (not valid JSON)."""


NONE = DirtProfile()
STANDARD = DirtProfile(
    null_user_id=0.03,
    null_track_id=0.02,
    null_event_type=0.01,
    ts_without_fraction=0.3,
    release_month=0.1,
    release_year=0.12,
)
HEAVY = DirtProfile(
    null_user_id=0.04,
    null_track_id=0.03,
    null_event_type=0.02,
    ts_without_fraction=0.4,
    release_month=0.15,
    release_year=0.15,
    missing_styles=(0.4, 0.3, 0.3),
    sentinel_id=0.005,
    int_user_id=0.05,
    case_variant=0.15,
    unknown_events=0.02,
    tie=0.6,
    tie_swapped=0.5,
    shuffle_sessions=True,
    null_list=0.03,
    genre_case=0.1,
    missing_field=0.02,
    implausible_tempo=0.01,
    implausible_loudness=0.01,
    implausible_duration=0.005,
    duplicate_tracks=True,
    alias_use=0.4,
    partial_weeks=True,
    bom_files=("sessions", "artists"),
    crlf_files=("tracks", "users"),
    gzip_files=("users", "track_storage"),
    blank_lines=0.001,
    malformed_lines=0.0005,
)
PROFILES = {"none": NONE, "standard": STANDARD, "heavy": HEAVY}

PARTIAL_FIRST = int(2.5 * 86_400 * 1_000_000)  # first week starts Wednesday noon
PARTIAL_LAST = int(3.5 * 86_400 * 1_000_000)  # last week ends Thursday noon


def get_profile(name: str) -> DirtProfile:
    """The profile called ``name`` (``none``, ``standard`` or ``heavy``)."""
    try:
        return PROFILES[name]
    except KeyError:
        raise ParamError(
            f"data.synthetic.dirt must be one of {', '.join(PROFILES)}, got {name!r}"
        ) from None


@dataclass
class SessionRows:
    """Session events ready to render: values plus how each is written.

    ``track`` indexes the dump's track ids (the world's, then its aliases);
    ``etype`` indexes :data:`EVENT_TYPE_VOCAB`; the ``*_style`` arrays hold
    VALUE/NULL/EMPTY/MISSING/SENTINEL/AS_INT; ``fraction`` says whether the
    timestamp carries fractional seconds.
    """

    session: np.ndarray
    ts: np.ndarray
    user: np.ndarray
    track: np.ndarray
    etype: np.ndarray
    user_style: np.ndarray
    track_style: np.ndarray
    etype_style: np.ndarray
    fraction: np.ndarray
    blank_after: np.ndarray
    malformed: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def concat(cls, parts: list[SessionRows]) -> SessionRows:
        """The rows of ``parts`` one after the other (e.g. week by week)."""
        names = [f.name for f in dataclasses.fields(cls)]
        return cls(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})


def missing_style(rng: np.random.Generator, n: int, profile: DirtProfile) -> np.ndarray:
    """How each of ``n`` missing values is written: NULL, EMPTY or MISSING."""
    p = np.asarray(profile.missing_styles, dtype=float)
    return rng.choice(np.array([NULL, EMPTY, MISSING], dtype=np.int8), size=n, p=p / p.sum())


def _styles(rng: np.random.Generator, n: int, rate: float, profile: DirtProfile) -> np.ndarray:
    style = np.zeros(n, dtype=np.int8)
    hit = rng.random(n) < rate
    style[hit] = missing_style(rng, int(hit.sum()), profile)
    return style


def variant_codes(rng: np.random.Generator, codes: np.ndarray, rate: float) -> np.ndarray:
    """Replace a share ``rate`` of canonical event codes by a spelling variant's code."""
    out = codes.astype(np.int16)
    hit = rng.random(len(codes)) < rate
    base = len(EVENT_TYPES)
    first_variant = []
    for t in EVENT_TYPES:
        first_variant.append(base)
        base += len(EVENT_TYPE_VARIANTS[t])
    n_var = np.array([len(EVENT_TYPE_VARIANTS[t]) for t in EVENT_TYPES])
    canon = hit & (out < len(EVENT_TYPES))
    c = out[canon]
    out[canon] = np.asarray(first_variant)[c] + (rng.random(len(c)) * n_var[c]).astype(np.int16)
    return out


def dirty_sessions(
    world: World, events: Events, profile: DirtProfile, rng: np.random.Generator
) -> SessionRows:
    """Apply the row-level dirt of ``profile`` to clean events (pure; ``events`` untouched)."""
    ev = events
    # the same song under a second id
    track = ev.track.astype(np.int64)
    if profile.duplicate_tracks and len(world.alias_track):
        alias_of = np.full(world.n_tracks, -1, dtype=np.int64)
        alias_of[world.alias_track] = world.n_tracks + np.arange(len(world.alias_track))
        has = (track >= 0) & (alias_of[np.maximum(track, 0)] >= 0)
        use = has & (rng.random(len(track)) < profile.alias_use)
        track = np.where(use, alias_of[np.maximum(track, 0)], track)
    ev = Events(ev.user, ev.session, ev.ts.copy(), track, ev.etype.astype(np.int16), ev.source)

    # partial first and last weeks
    if profile.partial_weeks:
        lo = world.week_start(0).value // 1000 + PARTIAL_FIRST
        hi = world.week_start(world.n_weeks - 1).value // 1000 + PARTIAL_LAST
        ev = ev.take(np.nonzero((ev.ts >= lo) & (ev.ts < hi))[0])

    # unknown event types, inserted right after some plays
    if profile.unknown_events > 0:
        extra = (ev.etype == PLAY) & (rng.random(len(ev)) < profile.unknown_events)
        idx = np.repeat(np.arange(len(ev)), 1 + extra)
        is_new = np.zeros(len(idx), dtype=bool)
        is_new[np.cumsum(1 + extra)[extra] - 1] = True
        ev = ev.take(idx)
        first_unknown = len(EVENT_TYPE_VOCAB) - len(UNKNOWN_EVENT_TYPES)
        k = int(is_new.sum())
        ev.etype[is_new] = first_unknown + rng.integers(0, len(UNKNOWN_EVENT_TYPES), k)
        ev.ts[is_new] += 1_000_000

    n = len(ev)
    fraction = rng.random(n) >= profile.ts_without_fraction

    # ties: a skip and the next play at the same instant, in either order
    if profile.tie > 0 and n > 1:
        nxt_same = ev.session[1:] == ev.session[:-1]
        cand = np.nonzero(nxt_same & (ev.etype[:-1] == SKIP) & (ev.etype[1:] == PLAY))[0]
        tied = cand[rng.random(len(cand)) < profile.tie]
        ev.ts[tied + 1] = ev.ts[tied]
        fraction[tied + 1] = fraction[tied]
        swap = tied[rng.random(len(tied)) < profile.tie_swapped]
        order = np.arange(n)
        order[swap], order[swap + 1] = swap + 1, swap
        ev = ev.take(order)
        fraction = fraction[order]

    # sessions of a user in random order (rows stay grouped by session)
    if profile.shuffle_sessions and n:
        uniq, inv = np.unique(ev.session, return_inverse=True)
        key = rng.random(len(uniq))[inv]
        order = np.lexsort((np.arange(n), key, ev.user))
        ev = ev.take(order)
        fraction = fraction[order]

    # how ids and types are written
    user_style = _styles(rng, n, profile.null_user_id, profile)
    has_track = ev.track >= 0
    track_style = np.where(has_track, _styles(rng, n, profile.null_track_id, profile), 0)
    no_track = missing_style(rng, n, profile)
    track_style = np.where(has_track, track_style, no_track).astype(np.int8)
    etype_style = _styles(rng, n, profile.null_event_type, profile)
    if profile.sentinel_id > 0:
        user_style[(user_style == VALUE) & (rng.random(n) < profile.sentinel_id)] = SENTINEL
        sent = has_track & (track_style == VALUE) & (rng.random(n) < profile.sentinel_id)
        track_style[sent] = SENTINEL
    if profile.int_user_id > 0:
        user_style[(user_style == VALUE) & (rng.random(n) < profile.int_user_id)] = AS_INT
    etype = variant_codes(rng, ev.etype, profile.case_variant)
    blank_after = rng.random(n) < profile.blank_lines
    malformed = rng.random(n) < profile.malformed_lines
    return SessionRows(
        session=ev.session,
        ts=ev.ts,
        user=ev.user.astype(np.int64),
        track=ev.track,
        etype=etype,
        user_style=user_style,
        track_style=track_style,
        etype_style=etype_style,
        fraction=fraction,
        blank_after=blank_after,
        malformed=malformed,
    )


def vary_case(rng: np.random.Generator, variants: tuple[str, ...]) -> str:
    """One of the ``variants`` of an enum value, chosen at random."""
    return variants[int(rng.integers(0, len(variants)))]


def vary_genre(rng: np.random.Generator, genre: str) -> str:
    """The genre in Title Case, UPPER case, or padded with spaces."""
    k = int(rng.integers(0, 3))
    return (genre.title(), genre.upper(), f" {genre} ")[k]
