"""How users listen: sessions of plays, skips, likes and ads, one week at a time, vectorised.

One engine, :func:`week_events`, plays a week for every user; the history of
the dump (:func:`simulate_history`) and the A/B week (:func:`simulate_week`
with served playlists) both come from it, so the experiment runs on the same
behaviour the models were trained on.

A week, for every user:

1. Sessions: Poisson(``sessions_per_user_week`` x the user's activity), each
   starting at a time of day drawn from a daily rhythm, and with
   ``1 + Poisson(...)`` track slots so that a session holds about
   ``events_per_session`` events.
2. Organic slots: a genre (mostly a favourite, weighted by genre size x this
   week's momentum, sometimes anything), then :data:`CANDIDATES` tracks of the
   genre drawn in proportion to their appeal this week, of which the user picks
   the best fit to their taste (a softmax over audio distance).
3. Reaction, the same for organic and playlist tracks: the chance to skip rises
   with the audio distance to the user's taste and for genres outside their
   favourites, and falls with the track's appeal *this week*; a full play is
   liked with a chance that moves the other way. Non-premium users hear ads
   between tracks.

Served playlists (the A/B week) are the weekly "popular playlists" **shelf**,
an offer every user served them sees. It is *added* to the week: the organic
listening above is drawn first, from the same random stream and in the same
order as the history's, so it is identical whatever is served (and
``served=None`` with the dump's seed replays a history week exactly). The
shelf's draws come from a random stream **of each listener's own**
(:func:`listener_rng`: seeded by the experiment seed, the week and a SHA-256 of
the listener id), so what a listener does with the shelf depends only on them,
their playlists and the seed, never on which other listeners are simulated: the
``ab_test`` stage and the live run (``pozytywka traffic``) give a listener they
share the same week (issue 23). For each user with served playlists:

4. Playlist sessions: Poisson(:data:`PLAYLIST_SHELF_SESSIONS` x activity)
   additional sessions, drawn for every user whatever their playlists are (so
   how many users open the shelf does not depend on the arm), at times drawn
   like organic sessions.
5. Which playlist, by taste: weight :data:`PLAYLIST_FAV_WEIGHT` for a playlist in
   one of the user's favourite genres (its genre: the most common one of its
   tracks), :data:`PLAYLIST_NEAR_WEIGHT` for one in the family of a favourite,
   and a small :data:`PLAYLIST_OTHER_WEIGHT` for any other genre (popular
   playlists are meant to reach a broad audience, and a listener sometimes
   tries one outside their taste; its tracks are then skipped more, by 3.).
6. Playing it: from the first track (with chance :data:`PLAYLIST_FROM_TOP`, else
   from a random position), in playlist order, reacting to each track with the
   model of 3., until the user leaves: after :data:`PLAYLIST_STOP_SKIPS` skips in
   a row, after a patience of ``1 + Poisson(PLAYLIST_SESSION_TRACKS - 1)``
   tracks, or at the end of the playlist. Better picks are therefore played
   through more *and* keep the listener longer.

Timestamps: an ad, then the play; a skip happens during the track (between
its play and the next play); a like during a full play. Consecutive events
of a session are at least one second apart, so dropping fractional seconds
(the "standard" dirt) never reorders them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .sampling import GroupedSampler, draw_rows
from .world import MICROS_PER_WEEK, STREAM_HISTORY, World, genre_weights

logger = logging.getLogger(__name__)

#: Event type codes in :class:`Events` and their spelling in the dump (sic: "advertisment").
EVENT_TYPES = ("play", "skip", "like", "advertisment")
PLAY, SKIP, LIKE, AD = 0, 1, 2, 3
#: Where a track slot came from.
SOURCES = ("organic", "playlist")
ORGANIC, PLAYLIST = 0, 1

# --- choosing what to play ----------------------------------------------------
# Calibrated to the real dumps (docs/realism.md, issue 21): the real listeners' plays are
# 5-44% in their top-3 genres so far, 25-28% of plays are liked, 31-37% are not full.
#: The activity of the world before calibration (``data.synthetic`` params): the
#: small worlds of the tests and the benchmark keep it, since 400 listeners active one
#: week in twenty leave too few plays to exercise the pipeline (docs/realism.md).
DENSE_ACTIVITY = {"sessions_per_user_week": 0.55, "events_per_session": 7.5}
P_FAV_GENRE = 0.35  # a session's genre is one of the user's favourites (was 0.85)
P_GENRE_SWITCH = 0.25  # a slot leaves the session's genre for a fresh draw
CANDIDATES = 4  # tracks offered per organic slot (drawn by appeal), the user picks one
TASTE_BETA = 1.5  # softmax sharpness of that pick over the standardised audio distance

# --- reacting to it (logits) --------------------------------------------------
SKIP_INTERCEPT = -0.45  # was 0.85 (with P_FAV_GENRE 0.85 and a steeper appeal)
SKIP_DIST = 0.7  # per sd of audio distance to the user's taste
SKIP_OFF_GENRE = 0.9  # the track is in none of the user's favourite genres
SKIP_APPEAL = 1.2  # per sd of this week's log appeal (higher appeal: fewer skips)
LIKE_INTERCEPT = -1.4  # was -3.9 (a like rate of 0.10, below every real dump)
LIKE_DIST = 0.5
LIKE_APPEAL = 0.8
AD_RATE = 0.3  # chance of an ad before a track (not the first) for non-premium users

# --- served playlists: the weekly "popular playlists" shelf (the A/B week) -------
PLAYLIST_SHELF_SESSIONS = 2.0  # mean extra playlist sessions per user and week, x activity
PLAYLIST_FAV_WEIGHT = 1.0  # pick weight of a shelf playlist in one of the user's favourite genres
PLAYLIST_NEAR_WEIGHT = 0.35  # ... whose genre shares a family with a favourite
PLAYLIST_OTHER_WEIGHT = 0.1  # ... of any other genre (popular playlists reach a broad audience)
PLAYLIST_FROM_TOP = 0.8  # a playlist session starts at the first track; else anywhere in it
PLAYLIST_SESSION_TRACKS = 10.0  # mean tracks a user would stay for (1 + Poisson)...
PLAYLIST_STOP_SKIPS = 2  # ...unless they skip this many tracks in a row: then they leave

#: Average events per track slot at the default constants (play + skip/like + ads),
#: used to turn ``events_per_session`` into slots per session.
EVENTS_PER_SLOT = 1.6

# Relative chance of a session starting in each hour of the day (UTC).
HOUR_WEIGHTS = np.array(
    [3, 2, 1, 1, 1, 1, 2, 4, 6, 6, 5, 5, 6, 6, 5, 5, 6, 8, 9, 10, 10, 9, 7, 5], dtype=float
)

_SECOND = 1_000_000
_DAY = 86_400 * _SECOND


@dataclass
class Events:
    """Events as numeric columns (one row per event), grouped by user, session, then time.

    ``user``/``track`` are world positions (``track`` -1 for ads), ``session``
    a session number, ``ts`` microseconds since the epoch (naive UTC),
    ``etype`` an index into :data:`EVENT_TYPES`, ``source`` into :data:`SOURCES`.
    """

    user: np.ndarray
    session: np.ndarray
    ts: np.ndarray
    track: np.ndarray
    etype: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)

    @classmethod
    def concat(cls, parts: Sequence[Events]) -> Events:
        names = ("user", "session", "ts", "track", "etype", "source")
        return cls(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})

    def take(self, index: np.ndarray) -> Events:
        return Events(
            self.user[index],
            self.session[index],
            self.ts[index],
            self.track[index],
            self.etype[index],
            self.source[index],
        )


@dataclass(frozen=True)
class ServedPlan:
    """Served playlists resolved to world positions, and who would listen to which.

    Listener ``u``'s playlists are ``user_pl[user_first[u]:user_first[u + 1]]`` in
    the order they were served, with their pick weights ``user_w`` (by taste, > 0).
    """

    tracks: np.ndarray  # all playlists' track positions, concatenated
    offsets: np.ndarray  # playlist p is tracks[offsets[p]:offsets[p+1]]
    genre: np.ndarray  # each playlist's genre (the most common genre of its tracks)
    user_first: np.ndarray  # (U + 1,) offsets into user_pl / user_w
    user_pl: np.ndarray  # playlist index of each (listener, playlist) pair, in served order
    user_w: np.ndarray  # its pick weight
    has_pairs: np.ndarray  # (U,) bool: the user is served at least one non-empty playlist

    @property
    def empty(self) -> bool:
        """No listener is served a non-empty playlist."""
        return not bool(self.has_pairs.any())


def plan_served(world: World, served: Mapping[str, Sequence[Sequence[str]]] | None) -> ServedPlan:
    """Resolve ``user_id -> playlists (track-id lists)`` into a :class:`ServedPlan`.

    Unknown users and track ids are ignored (logged); identical playlists are
    stored once. Every non-empty playlist served to a user can be picked, with a
    weight by taste: its genre is one of their favourites
    (:data:`PLAYLIST_FAV_WEIGHT`), shares a family with one
    (:data:`PLAYLIST_NEAR_WEIGHT`), or neither (:data:`PLAYLIST_OTHER_WEIGHT`).
    A listener's pairs keep the order they were served in (not the order of the
    other listeners), so what they pick depends on their own playlists only.
    """
    unique: dict[tuple[str, ...], int] = {}
    pair_user: list[int] = []
    pair_pl: list[int] = []
    unknown_users = 0
    for user_id, playlists in (served or {}).items():
        u = world.user_index([user_id])[0]
        if u < 0:
            unknown_users += 1
            continue
        for pl in playlists:
            key = tuple(str(t) for t in pl)
            pair_user.append(int(u))
            pair_pl.append(unique.setdefault(key, len(unique)))
    if unknown_users:
        logger.warning("served playlists for %d unknown users ignored", unknown_users)
    lists = []
    unknown_tracks = 0
    for key in unique:  # insertion order = index order
        idx = world.track_index(key)
        unknown_tracks += int((idx < 0).sum())
        idx = idx[idx >= 0]
        _, first = np.unique(idx, return_index=True)
        lists.append(idx[np.sort(first)])
    if unknown_tracks:
        logger.warning("%d served track ids unknown to the world ignored", unknown_tracks)
    lengths = np.array([len(x) for x in lists], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(lengths)))
    tracks = np.concatenate(lists) if lists else np.zeros(0, dtype=np.int64)
    genre = np.full(len(lists), -1, dtype=np.int64)
    for p, idx in enumerate(lists):
        g = world.track_genres[idx].ravel()
        g = g[g >= 0]
        if len(g):
            genre[p] = int(np.bincount(g, minlength=world.n_genres).argmax())
    pu = np.asarray(pair_user, dtype=np.int64)
    pp = np.asarray(pair_pl, dtype=np.int64)
    pg = genre[pp]
    fav = world.user_fav[pu]
    in_fav = ((fav == pg[:, None]) & (pg[:, None] >= 0)).any(axis=1)
    fam = np.where(fav >= 0, world.genre_family[np.maximum(fav, 0)], -1)
    pfam = np.where(pg >= 0, world.genre_family[np.maximum(pg, 0)], -2)
    near = (fam == pfam[:, None]).any(axis=1)
    weight = np.where(
        in_fav, PLAYLIST_FAV_WEIGHT, np.where(near, PLAYLIST_NEAR_WEIGHT, PLAYLIST_OTHER_WEIGHT)
    )
    weight = weight * (lengths[pp] > 0) if len(pp) else np.zeros(0)
    keep = weight > 0
    order = np.argsort(pu[keep], kind="stable")  # by listener, each in served order
    user_pl, user_w = pp[keep][order], weight[keep][order]
    counts = np.bincount(pu[keep], minlength=world.n_users)
    user_first = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return ServedPlan(tracks, offsets, genre, user_first, user_pl, user_w, counts > 0)


@dataclass(frozen=True)
class SlotDraws:
    """The random numbers of ``n`` track slots, drawn in this order (one array each):
    the skip and like uniforms (:func:`_react`), then the ad uniform, the share of a
    skipped track heard (Beta(1.3, 3)), the gap after it and the ad's length
    (microseconds), and the like's moment uniform (:func:`_slot_events`)."""

    skip_u: np.ndarray
    like_u: np.ndarray
    ad_u: np.ndarray
    frac: np.ndarray
    gap: np.ndarray
    ad_len: np.ndarray
    like_at_u: np.ndarray

    @classmethod
    def draw(cls, rng: np.random.Generator, n: int) -> SlotDraws:
        """All of them for ``n`` slots from ``rng`` (a listener's own stream)."""
        return cls(*_react_draws(rng, n), *_timing_draws(rng, n))

    @classmethod
    def concat(cls, parts: Sequence[SlotDraws]) -> SlotDraws:
        names = [f.name for f in fields(cls)]
        return cls(**{k: np.concatenate([getattr(p, k) for p in parts]) for k in names})

    def take(self, index: np.ndarray) -> SlotDraws:
        return SlotDraws(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


def _react_draws(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.random(n), rng.random(n)


def _timing_draws(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    """The ad, Beta share, gap, ad length and like-moment draws, in the history's order."""
    ad_u = rng.random(n)
    frac = rng.beta(1.3, 3.0, n)
    gap = rng.integers(1 * _SECOND, 3 * _SECOND, n)
    ad_len = rng.integers(15 * _SECOND, 31 * _SECOND, n)
    like_at_u = rng.random(n)
    return ad_u, frac, gap, ad_len, like_at_u


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _draw_genres(
    world: World, rng: np.random.Generator, users: np.ndarray, gw: np.ndarray
) -> np.ndarray:
    """A genre per entry of ``users``: a favourite (by weight) or, sometimes, any genre."""
    fav = world.user_fav[users]
    fav_w = np.where(fav >= 0, gw[np.maximum(fav, 0)], 0.0)
    from_fav = draw_rows(rng, fav, fav_w)
    anywhere = rng.choice(len(gw), size=len(users), p=gw / gw.sum())
    use_fav = (rng.random(len(users)) < P_FAV_GENRE) & (from_fav >= 0)
    return np.where(use_fav, from_fav, anywhere)


def _taste_distance(world: World, users: np.ndarray, tracks: np.ndarray) -> np.ndarray:
    """Standardised audio distance between users and tracks (same shapes, broadcast)."""
    diff = world.taste[users] - world.track_taste[tracks]
    d = np.sqrt((diff * diff).sum(axis=-1))
    return (d - world.dist_center) / world.dist_scale


def _genre_match(world: World, users: np.ndarray, tracks: np.ndarray) -> np.ndarray:
    tg = world.track_genres[tracks]
    fav = world.user_fav[users]
    return ((tg[:, :, None] == fav[:, None, :]) & (tg[:, :, None] >= 0)).any(axis=(1, 2))


def _draw_starts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Start offsets (microseconds into the week) of ``n`` sessions: any day, a daily rhythm."""
    day = rng.integers(0, 7, n)
    hour = rng.choice(24, size=n, p=HOUR_WEIGHTS / HOUR_WEIGHTS.sum())
    return day * _DAY + hour * 3600 * _SECOND + rng.integers(0, 3600 * _SECOND, n)


def _react(
    world: World,
    week: int,
    rng: np.random.Generator | None,
    users: np.ndarray,
    tracks: np.ndarray,
    draws: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(skip, like)`` for each (user, track) slot: the one reaction model of the service.

    The uniforms come from ``draws`` (skip, like) when given, else from ``rng``."""
    n = len(tracks)
    skip_u, like_u = draws if draws is not None else _react_draws(rng, n)
    dz = _taste_distance(world, users, tracks)
    match = _genre_match(world, users, tracks)
    az = world.appeal_z[tracks, week].astype(np.float64)
    skip_logit = (
        SKIP_INTERCEPT
        + SKIP_DIST * dz
        + SKIP_OFF_GENRE * (~match)
        - SKIP_APPEAL * az
        + world.skip_bias[users]
    )
    skip = skip_u < _sigmoid(skip_logit)
    like_logit = LIKE_INTERCEPT - LIKE_DIST * dz + LIKE_APPEAL * az + world.like_bias[users]
    like = (~skip) & (like_u < _sigmoid(like_logit))
    return skip, like


def _slot_events(
    world: World,
    week: int,
    rng: np.random.Generator | None,
    offset: np.ndarray,
    n_slots: np.ndarray,
    slot_user: np.ndarray,
    track: np.ndarray,
    skip: np.ndarray,
    like: np.ndarray,
    source: int,
    first_session: int = 0,
    timing: tuple[np.ndarray, ...] | None = None,
) -> Events:
    """Ads, timing and the event rows of sessions whose slots are already reacted to.

    Session ``s`` (numbered ``first_session + s``) starts at ``offset[s]`` into the
    week and holds ``n_slots[s]`` consecutive slots. The random numbers come from
    ``timing`` (:func:`_timing_draws`' arrays, one value per slot) when given, else
    from ``rng``.
    """
    n_s = len(n_slots)
    n = len(track)
    ad_u, frac, gap, ad_len_draw, like_at_u = (
        timing if timing is not None else _timing_draws(rng, n)
    )
    week_us = (world.week_start(week).value // 1000) if week >= 0 else 0
    slot_sess = np.repeat(np.arange(n_s), n_slots)
    sess_first = np.concatenate(([0], np.cumsum(n_slots)[:-1])).astype(np.int64)
    slot_pos = np.arange(n) - sess_first[slot_sess]
    ad = (~world.premium[slot_user]) & (slot_pos > 0) & (ad_u < AD_RATE)

    # -- timing inside the session (microseconds) --
    dur = world.duration_ms[track] * 1000
    listened = np.where(
        skip, np.clip((frac * dur).astype(np.int64), 5 * _SECOND, dur - 2 * _SECOND), dur
    )
    ad_len = np.where(ad, ad_len_draw, 0)
    like_at = np.clip((like_at_u * listened).astype(np.int64), 1 * _SECOND, listened - 1 * _SECOND)
    slot_len = ad_len + listened + gap
    cs_excl = np.cumsum(slot_len) - slot_len
    # (a week with no session, e.g. a small world at a low activity, has no slot to index)
    slot_start = cs_excl - cs_excl[sess_first][slot_sess] if n_s else cs_excl
    sess_len = np.add.reduceat(slot_len, sess_first) if n_s else np.zeros(0, dtype=np.int64)
    latest = MICROS_PER_WEEK - sess_len - _SECOND
    start = np.where(latest > 0, np.minimum(offset, latest), 0)
    ad_ts = week_us + start[slot_sess] + slot_start
    play_ts = ad_ts + ad_len

    # -- events: per slot [ad, play, like, skip], in that (chronological) order --
    mask = np.column_stack([ad, np.ones(n, dtype=bool), like, skip])
    ts = np.column_stack([ad_ts, play_ts, play_ts + like_at, play_ts + listened])
    etype = np.broadcast_to(np.array([AD, PLAY, LIKE, SKIP], dtype=np.int8), (n, 4))
    trk = np.column_stack([np.full(n, -1), track, track, track])
    keep = mask & (ts < week_us + MICROS_PER_WEEK)
    rows = np.nonzero(keep.ravel())[0]
    slot_of = rows // 4
    return Events(
        user=slot_user[slot_of].astype(np.int32),
        session=(slot_sess[slot_of] + first_session).astype(np.int64),
        ts=ts.ravel()[rows].astype(np.int64),
        track=trk.ravel()[rows].astype(np.int32),
        etype=etype.ravel()[rows],
        source=np.full(len(rows), source, dtype=np.int8),
    )


def _organic_events(world: World, week: int, rng: np.random.Generator) -> tuple[Events, int]:
    """Every user's usual listening in ``week`` and the number of sessions drawn.

    The random draws (and so the events) are exactly those of the dump's history:
    do not reorder them.
    """
    p = world.params
    n_users = world.n_users

    # -- sessions, chronological per user --
    # users who have not signed up yet have rate 0 (numpy draws nothing for them)
    n_sess = rng.poisson(p.sessions_per_user_week * world.activity * world.active(week))
    sess_user = np.repeat(np.arange(n_users), n_sess)
    n_s = len(sess_user)
    offset = _draw_starts(rng, n_s)
    order = np.lexsort((offset, sess_user))
    sess_user, offset = sess_user[order], offset[order]
    lam = max(p.events_per_session / EVENTS_PER_SLOT - 1.0, 0.0)
    n_slots = 1 + rng.poisson(lam, n_s)
    # A draw per session that the first design (playlist sessions carved out of these)
    # used; kept so that the history, and every dump made from it, stays byte-identical.
    rng.random(n_s)

    # -- slots: a genre per session (sometimes switching), the best fit of a few tracks --
    slot_sess = np.repeat(np.arange(n_s), n_slots)
    slot_user = sess_user[slot_sess]
    gw = genre_weights(world, week)
    released = np.isfinite(world.log_appeal[:, week])
    appeal = np.where(released, np.exp(world.log_appeal[:, week].astype(np.float64)), 0.0)
    tg = world.track_genres
    pair_track = np.repeat(np.arange(world.n_tracks), 3)[tg.ravel() >= 0]
    pair_genre = tg.ravel()[tg.ravel() >= 0]
    sampler = GroupedSampler.build(pair_genre, pair_track, appeal[pair_track], world.n_genres)
    gw = gw * (sampler.totals > 0)
    if gw.sum() <= 0:
        raise ValueError(f"no track is released in week {week}: nothing to play")
    org_sess = np.unique(slot_sess)
    sess_genre = np.full(n_s, -1, dtype=np.int64)
    sess_genre[org_sess] = _draw_genres(world, rng, sess_user[org_sess], gw)
    slot_genre = sess_genre[slot_sess]
    switch = rng.random(len(slot_genre)) < P_GENRE_SWITCH
    slot_genre[switch] = _draw_genres(world, rng, slot_user[switch], gw)
    cand = sampler.sample(rng, np.repeat(slot_genre, CANDIDATES)).reshape(-1, CANDIDATES)
    dist = _taste_distance(world, slot_user[:, None], cand)
    gumbel = -np.log(-np.log(rng.random(cand.shape) * (1 - 1e-12) + 1e-300))
    pick = np.argmax(-TASTE_BETA * dist + gumbel, axis=1)
    track = cand[np.arange(len(cand)), pick]

    skip, like = _react(world, week, rng, slot_user, track)
    ev = _slot_events(world, week, rng, offset, n_slots, slot_user, track, skip, like, ORGANIC)
    return ev, n_s


#: The random stream of the shelf (after the world's streams 1..13, :mod:`.world`).
STREAM_SHELF = 14


def listener_key(user_id: str) -> int:
    """A stable 64-bit number of a listener id: the first 8 bytes of SHA-256 of the id
    (UTF-8), big-endian. Not Python's ``hash()``, which changes between processes."""
    return int.from_bytes(hashlib.sha256(str(user_id).encode()).digest()[:8], "big")


def listener_rng(seed: int, week: int, user_id: str) -> np.random.Generator:
    """The listener's own random stream for the shelf of ``week``: PCG64 seeded by
    ``SeedSequence([seed, STREAM_SHELF, week, listener_key(user_id)])``.

    What a listener does with the shelf depends on this stream, their playlists and
    the world only, not on which other listeners are simulated (issue 23: "one
    experiment, one answer")."""
    entropy = [int(seed), STREAM_SHELF, int(week), listener_key(user_id)]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def _listener_sessions(
    world: World,
    week: int,
    rng: np.random.Generator,
    plan: ServedPlan,
    u: int,
    rate: float,
) -> tuple[np.ndarray, ...] | None:
    """Listener ``u``'s playlist sessions of the week, drawn from their own stream.

    Draws, in this order: the number of sessions (Poisson(``rate``)), their start
    times, which playlist (by taste weight), where to start, how long they would stay,
    then every candidate slot's random numbers (:class:`SlotDraws`). Returns
    ``(offset, chosen, first, n_cand, draws)`` (one row per session; ``draws`` per
    candidate slot), or None without a session."""
    n_s = int(rng.poisson(rate))
    if n_s == 0:
        return None
    offset = np.sort(_draw_starts(rng, n_s))
    lo, hi = plan.user_first[u], plan.user_first[u + 1]
    cw = np.cumsum(plan.user_w[lo:hi])
    pick = np.searchsorted(cw, rng.random(n_s) * cw[-1], side="right")
    chosen = plan.user_pl[lo:hi][np.minimum(pick, hi - lo - 1)]
    length = plan.offsets[chosen + 1] - plan.offsets[chosen]
    anywhere = (rng.random(n_s) * length).astype(np.int64)
    first = np.where(rng.random(n_s) < PLAYLIST_FROM_TOP, 0, anywhere)
    budget = 1 + rng.poisson(max(PLAYLIST_SESSION_TRACKS - 1.0, 0.0), n_s)
    n_cand = np.minimum(budget, length - first)
    return offset, chosen, first, n_cand, SlotDraws.draw(rng, int(n_cand.sum()))


def _shelf_events(
    world: World,
    week: int,
    seed: int,
    plan: ServedPlan,
    shelf_sessions: float,
    first_session: int,
) -> Events:
    """The additional playlist sessions of users offered the shelf (see the module
    docstring); sessions numbered from ``first_session`` on, listener by listener.

    Every random number of a listener comes from their own stream
    (:func:`listener_rng`, :func:`_listener_sessions`); the rest (reactions, the stop
    rule, timing) is computed for all listeners at once from those numbers."""
    rate = shelf_sessions * world.activity * world.active(week)
    parts = []
    for u in np.nonzero(plan.has_pairs)[0].tolist():
        rng = listener_rng(seed, week, str(world.user_ids[u]))
        got = _listener_sessions(world, week, rng, plan, u, float(rate[u]))
        if got is not None:
            parts.append((u, *got))
    if not parts:
        return _empty_events()
    sess_user = np.concatenate([np.full(len(p[1]), p[0], dtype=np.int64) for p in parts])
    offset, chosen, first, n_cand = (np.concatenate([p[k] for p in parts]) for k in (1, 2, 3, 4))
    draws = SlotDraws.concat([p[5] for p in parts])
    n_s = len(sess_user)

    # -- the candidate slots, in playlist order, reacted to with the one reaction model --
    slot_sess = np.repeat(np.arange(n_s), n_cand)
    sess_first = np.concatenate(([0], np.cumsum(n_cand)[:-1])).astype(np.int64)
    idx = np.arange(len(slot_sess))
    slot_pos = idx - sess_first[slot_sess]
    slot_user = sess_user[slot_sess]
    track = plan.tracks[plan.offsets[chosen[slot_sess]] + first[slot_sess] + slot_pos]
    skip, like = _react(world, week, None, slot_user, track, (draws.skip_u, draws.like_u))

    # -- the stop rule: the session ends after PLAYLIST_STOP_SKIPS consecutive skips --
    boundary = np.where(~skip, idx, np.where(slot_pos == 0, idx - 1, -1))
    run = idx - np.maximum.accumulate(boundary)
    stop = run >= PLAYLIST_STOP_SKIPS
    cs = np.cumsum(stop)
    before = cs - stop - (cs - stop)[sess_first][slot_sess]
    keep = before == 0
    n_slots = np.bincount(slot_sess[keep], minlength=n_s)
    kept = draws.take(keep)
    return _slot_events(
        world,
        week,
        None,
        offset,
        n_slots,
        slot_user[keep],
        track[keep],
        skip[keep],
        like[keep],
        PLAYLIST,
        first_session,
        timing=(kept.ad_u, kept.frac, kept.gap, kept.ad_len, kept.like_at_u),
    )


def _empty_events() -> Events:
    z = np.zeros(0, dtype=np.int64)
    i32, i8 = z.astype(np.int32), z.astype(np.int8)
    return Events(user=i32, session=z, ts=z, track=i32, etype=i8, source=i8)


def week_events(
    world: World,
    week: int,
    rng: np.random.Generator,
    plan: ServedPlan | None = None,
    shelf_sessions: float = PLAYLIST_SHELF_SESSIONS,
    shelf_seed: int = 0,
) -> Events:
    """Every user's events in world week ``week``; sessions numbered from 0.

    The organic listening comes from ``rng`` and does not depend on ``plan``;
    with served playlists (``plan``), the shelf's playlist sessions are added,
    each listener's drawn from their own stream (:func:`listener_rng` with
    ``shelf_seed``), numbered after the organic sessions. Events stay grouped by
    user, then session, then time.
    """
    organic, n_organic = _organic_events(world, week, rng)
    if plan is None or plan.empty:
        return organic
    shelf = _shelf_events(world, week, shelf_seed, plan, shelf_sessions, n_organic)
    events = Events.concat([organic, shelf])
    return events.take(np.lexsort((events.session, events.user)))


def history_rng(world: World, week: int) -> np.random.Generator:
    """The random stream of history week ``week`` (also what ``simulate_week`` uses)."""
    return np.random.default_rng([int(world.params.seed), STREAM_HISTORY, int(week)])


def history_events(world: World, progress: bool = True) -> Events:
    """Clean events of weeks ``0 .. n_weeks-1``: week by week, each week grouped by user,
    then session, then time (an export appended weekly, so one more week appends rows).

    Session numbers are global (1, 2, ... in week order), so they are unique
    across the dump.
    """
    parts = []
    first_session = 1
    for week in tqdm(
        range(world.n_weeks), desc="simulate weeks", unit="week", disable=not progress, leave=False
    ):
        ev = week_events(world, week, history_rng(world, week))
        ev.session = ev.session + first_session
        first_session = int(ev.session.max()) + 1 if len(ev) else first_session
        parts.append(ev)
    return Events.concat(parts)


def events_frame(world: World, events: Events, session_ids: np.ndarray) -> pd.DataFrame:
    """Numeric events to the contract's table (string ids, naive UTC timestamps)."""
    track_ids = np.where(events.track >= 0, world.track_ids[np.maximum(events.track, 0)], None)
    return pd.DataFrame(
        {
            "user_id": pd.array(world.user_ids[events.user], dtype="str"),
            "session_id": pd.array(session_ids, dtype="str"),
            "timestamp": events.ts.astype("datetime64[us]"),
            "track_id": pd.array(track_ids, dtype="str"),
            "event_type": pd.array(np.asarray(EVENT_TYPES)[events.etype], dtype="str"),
            "source": pd.array(np.asarray(SOURCES)[events.source], dtype="str"),
        }
    )


def simulate_history(world: World, progress: bool = True) -> pd.DataFrame:
    """Clean session events of weeks ``0 .. weeks-1`` (ads included, as in the dump).

    Columns: ``user_id``, ``session_id``, ``timestamp``, ``track_id`` (null for
    ads), ``event_type`` (``play``/``skip``/``like``/``advertisment``),
    ``source`` (always ``organic``). Rows are grouped by user and session.
    """
    ev = history_events(world, progress=progress)
    return events_frame(world, ev, ev.session.astype(str))


def simulate_week(
    world: World,
    week: int,
    served: Mapping[str, Sequence[Sequence[str]]] | None = None,
    seed: int = 0,
    *,
    shelf_sessions: float = PLAYLIST_SHELF_SESSIONS,
) -> pd.DataFrame:
    """One week of every user's listening, given the playlists served to each user.

    ``served`` maps ``user_id`` to a list of playlists (track-id lists, in play
    order); users not in it get none. Every user keeps their usual (organic)
    listening, identical whatever they are served; a user served playlists also
    opens the shelf in Poisson(``shelf_sessions`` x activity) additional playlist
    sessions (default :data:`PLAYLIST_SHELF_SESSIONS`), picking a playlist by
    taste and playing it in order until they leave (see the module docstring);
    those events have ``source == "playlist"``. Reactions follow the same model
    as organic listening, with each track's appeal in ``week``.

    Returns ``user_id``, ``session_id`` (``"w{week}-{n}"``), ``timestamp``,
    ``track_id``, ``event_type`` (``play``/``skip``/``like``; ads are left out),
    ``source`` (``organic``/``playlist``), grouped by user, session, time.
    With ``served=None`` and ``seed=world.params.seed`` a dump week is replayed
    exactly (same events as :func:`simulate_history` for that week).
    """
    if not 0 <= week <= world.n_weeks:
        raise ValueError(f"week must be in 0..{world.n_weeks}, got {week}")
    if not shelf_sessions >= 0.0:
        raise ValueError(f"shelf_sessions must be >= 0, got {shelf_sessions}")
    plan = plan_served(world, served) if served else None
    rng = np.random.default_rng([int(seed), STREAM_HISTORY, int(week)])
    ev = week_events(world, week, rng, plan, shelf_sessions, shelf_seed=seed)
    ev = ev.take(np.nonzero(ev.etype != AD)[0])
    session_ids = np.char.add(f"w{week}-", (ev.session + 1).astype(str))
    return events_frame(world, ev, session_ids)
