"""The synthetic world: who is in the service and how appealing each track is, week by week.

:func:`build_world` is deterministic from :class:`~pozytywka.config.SyntheticParams`,
so the ``generate`` stage and the ``ab_test`` stage rebuild the *same* world
from the same params. Each part of the world is drawn from its own random
stream (genres, artists, tracks, users, dynamics), so for example a change in
the number of users leaves the catalogue and its dynamics untouched.

What makes next week predictable, but not from last week's chart alone:

* **Hype curve.** A new track's appeal rises for ``peak_week`` weeks after its
  (Friday) release and then decays with a track-specific time constant, on top
  of a stable catalogue level. Release age and the recent trend tell where on
  its curve a track is.
* **Genre momentum.** The log share of each genre follows an AR(1) *growth*
  process: ``growth[w] = phi * growth[w-1] + noise``, ``level[w] = (1 - kappa) *
  level[w-1] + growth[w]``. Growth persists, so a genre that gained last week
  is likely to gain again. Artists get a weaker process of the same kind.
* **Track noise.** A mean-reverting AR(1) wobble per track (persistent, so it
  carries over a week, but fading).
* **Skip and like rates** depend on the track's current appeal (see
  ``simulate.py``), so they are a less noisy read of appeal than play counts.

All latent arrays cover weeks ``0 .. params.weeks`` inclusive: week
``params.weeks`` is the week after the dump, the one playlists are published
for and the A/B test simulates.

**A world that advances.** ``params.weeks`` is a horizon, not a size: the
catalogue before week 0 and the first users are one block each, every week adds
a block of new releases (Poisson per artist, on its Friday) and of sign-ups, and
every block and every week's shocks come from a stream keyed by the week. The
world at horizon N+1 is therefore the world at horizon N with one more week
appended (same positions, same values), which is what lets weekly retraining add
a week of data to the same service instead of drawing a new one.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.special import ndtr

from ..config import SyntheticParams
from ..dump_format import AUDIO_FEATURES
from ..errors import ParamError
from . import vocab
from .sampling import GroupedSampler

#: The audio dimensions user taste lives in (all scaled to about 0..1; tempo as (bpm-60)/140).
TASTE_DIMS = (
    "danceability",
    "energy",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "valence",
    "tempo",
)
#: The audio feature columns of ``tracks.jsonl`` (DESIGN §3), in file order.
AUDIO_COLUMNS = AUDIO_FEATURES

MICROS_PER_WEEK = 7 * 86_400 * 1_000_000

# Random streams: one per part of the world, so parts are independent of each other's size.
STREAM_GENRES, STREAM_ARTISTS, STREAM_TRACKS, STREAM_USERS, STREAM_DYNAMICS = 1, 2, 3, 4, 5
STREAM_IDS, STREAM_ALIASES, STREAM_HISTORY, STREAM_DIRT = 6, 7, 8, 9
STREAM_RELEASES, STREAM_SIGNUPS, STREAM_NOISE, STREAM_SCALE = 10, 11, 12, 13

# --- the catalogue -------------------------------------------------------------
GENRE_SIZE_SIGMA = 0.6  # log-sd of a genre's base share of listening
GENRE_AUDIO_SD = 0.07  # a genre's audio profile around its family's
ARTIST_AUDIO_SD = 0.06  # an artist's sound around their main genre's
TRACK_AUDIO_SD = 0.09  # a track around its artist's sound
ARTIST_EXTRA_GENRES_P = 0.35  # each of 2 extra genres (same family) with this chance: 1-3 genres
# Calibrated to the real dumps (docs/realism.md, issue 21): their weekly charts are nearly
# new every week (top-50 Jaccard <= 0.17) and most played tracks have one listener, so a
# track's appeal is far flatter than it was (0.5, 0.7 and a hype peak of 6x).
ARTIST_QUALITY_SIGMA = 0.2  # log-sd of an artist's drawing power
TRACK_QUALITY_SIGMA = 0.3  # log-sd of a track's catalogue-level appeal
POPULARITY_NOISE_SD = 0.5  # the catalogue's static popularity score = log appeal + this noise
POPULARITY_SCORE_SD = float(
    np.sqrt(TRACK_QUALITY_SIGMA**2 + ARTIST_QUALITY_SIGMA**2 + POPULARITY_NOISE_SD**2)
)
# ``tracks_per_artist`` = the catalogue plus RELEASE_REFERENCE_WEEKS weeks of new releases
IN_WINDOW_SHARE = 0.45  # ... of which this share are new releases (on Fridays)
RELEASE_REFERENCE_WEEKS = 30  # so an artist releases tracks_per_artist x 0.45 / 30 a week
RECENT_CATALOG_SHARE = 0.15  # share released in the RECENT_CATALOG_WEEKS before week 0
RECENT_CATALOG_WEEKS = 16
CATALOG_YEARS = 15  # the rest: released up to this many years before
ALIAS_SHARE = 0.02  # tracks that also exist under a second id (written by the heavy dirt only)

# --- the hype curve -----------------------------------------------------------
HYPE_PEAK_MEDIAN = 1.0  # extra appeal at the peak, as a multiple of the catalogue level
HYPE_PEAK_SIGMA = 0.8
HYPE_PEAK_WEEK_MAX = 2.0  # weeks from release to the peak: uniform 0..this
HYPE_DECAY_MEDIAN_WEEKS = 2.5  # e-folding time of the decay after the peak
HYPE_DECAY_SIGMA = 0.5

# --- dynamics -----------------------------------------------------------------
GENRE_GROWTH_PHI = 0.8
GENRE_GROWTH_SIGMA = 0.05
GENRE_MEAN_REVERSION = 0.04
ARTIST_GROWTH_PHI = 0.7
ARTIST_GROWTH_SIGMA = 0.03
ARTIST_MEAN_REVERSION = 0.06
TRACK_NOISE_RHO = 0.7
TRACK_NOISE_SIGMA = 0.15

# --- users --------------------------------------------------------------------
PREMIUM_SHARE = 0.3
ACTIVITY_SIGMA = 0.6  # log-sd of sessions per week around the params mean
FAV_SAME_FAMILY_P = 0.7  # a further favourite genre comes from the first one's family
FAV_EXTRA_P = 0.45  # each of 2 further favourite genres with this chance: 1-3 favourites
USER_TASTE_SD = 0.07
USER_SKIP_BIAS_SD = 0.4
USER_LIKE_BIAS_SD = 0.4

_ID_ALPHABET = np.frombuffer(
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", dtype=np.uint8
)


@dataclass(eq=False)
class World:
    """Everything the synthetic service is made of; arrays indexed by entity position.

    Weekly arrays have ``n_weeks + 1`` columns: week ``n_weeks`` is the week
    after the dump. Genre lists are padded with -1 to width 3.
    """

    params: SyntheticParams
    start: pd.Timestamp  # Monday 00:00 of week 0
    n_weeks: int
    # genres
    genre_names: np.ndarray
    genre_family: np.ndarray
    family_names: np.ndarray
    genre_size: np.ndarray
    genre_audio: np.ndarray
    genre_momentum: np.ndarray  # (G, W+1) log share change
    # artists
    artist_ids: np.ndarray
    artist_names: np.ndarray
    artist_genres: np.ndarray  # (A, 3)
    artist_quality: np.ndarray
    artist_momentum: np.ndarray  # (A, W+1)
    # tracks
    track_ids: np.ndarray
    track_names: np.ndarray
    track_artist: np.ndarray
    track_genres: np.ndarray  # (T, 3): the artist's genres
    track_taste: np.ndarray  # (T, len(TASTE_DIMS)) float32
    audio: dict[str, np.ndarray]
    duration_ms: np.ndarray
    explicit: np.ndarray
    release_date: np.ndarray  # datetime64[D]
    release_week: np.ndarray  # float weeks since the start (negative: before the window)
    popularity: np.ndarray  # 0..100, a static catalogue score
    storage_class: np.ndarray
    daily_cost: np.ndarray
    log_appeal: np.ndarray  # (T, W+1) float32, -inf before release
    appeal_z: np.ndarray  # (T, W+1) float32, log appeal standardised per week (0 if unreleased)
    track_block: np.ndarray  # 0: the catalogue before week 0; 1 + w: released in week w
    # users
    user_ids: np.ndarray
    user_names: np.ndarray
    user_city: np.ndarray
    user_street: np.ndarray
    user_fav: np.ndarray  # (U, 3)
    premium: np.ndarray
    activity: np.ndarray
    taste: np.ndarray  # (U, len(TASTE_DIMS)) float32
    skip_bias: np.ndarray
    like_bias: np.ndarray
    user_block: np.ndarray  # 0: users from the start; 1 + w: signed up in week w
    dist_center: float
    dist_scale: float
    # the same song under a second id (used by the heavy dirt profile)
    alias_ids: np.ndarray
    alias_track: np.ndarray
    _track_lookup: dict[str, int] = field(default_factory=dict, repr=False)
    _user_lookup: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_tracks(self) -> int:
        return len(self.track_ids)

    @property
    def n_genres(self) -> int:
        return len(self.genre_names)

    def tracks_by(self, week: int) -> int:
        """How many tracks exist before world week ``week`` (a prefix of the track arrays)."""
        return int(np.searchsorted(self.track_block, week, side="right"))

    def users_by(self, week: int) -> int:
        """How many users signed up before world week ``week`` (a prefix of the user arrays)."""
        return int(np.searchsorted(self.user_block, week, side="right"))

    def active(self, week: int) -> np.ndarray:
        """(U,) bool: the users signed up by world week ``week`` (they listen that week)."""
        return self.user_block <= week + 1

    def week_start(self, week: int) -> pd.Timestamp:
        """Monday 00:00 (naive UTC) of world week ``week`` (0 = the first week of the dump)."""
        return self.start + pd.Timedelta(weeks=int(week))

    def week_index(self, timestamp: pd.Timestamp | str | dt.datetime) -> int:
        """The world week holding ``timestamp`` (may be negative or beyond ``n_weeks``)."""
        delta = pd.Timestamp(timestamp) - self.start
        return int(delta // pd.Timedelta(weeks=1))

    def track_index(self, ids: Sequence[str]) -> np.ndarray:
        """Positions of track ids (aliases resolve to their song); -1 for unknown ids."""
        if not self._track_lookup:
            lookup = {t: i for i, t in enumerate(self.track_ids.tolist())}
            lookup.update(zip(self.alias_ids.tolist(), self.alias_track.tolist(), strict=True))
            self._track_lookup.update(lookup)
        get = self._track_lookup.get
        return np.fromiter((get(str(t), -1) for t in ids), dtype=np.int64, count=len(ids))

    def user_index(self, ids: Sequence[str]) -> np.ndarray:
        """Positions of user ids; -1 for unknown ids."""
        if not self._user_lookup:
            self._user_lookup.update({u: i for i, u in enumerate(self.user_ids.tolist())})
        get = self._user_lookup.get
        return np.fromiter((get(str(u), -1) for u in ids), dtype=np.int64, count=len(ids))


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), stream])


def _parse_start(start_date: str) -> pd.Timestamp:
    try:
        start = pd.Timestamp(start_date)
    except (ValueError, TypeError):
        raise ParamError(
            f"data.synthetic.start_date must be a date YYYY-MM-DD, got {start_date!r}"
        ) from None
    if start != start.normalize() or start.tzinfo is not None:
        raise ParamError(f"data.synthetic.start_date must be a plain date, got {start_date!r}")
    if start.weekday() != 0:
        raise ParamError(
            f"data.synthetic.start_date must be a Monday (weeks are ISO weeks), "
            f"got {start_date!r}, a {start.day_name()}"
        )
    return start


def random_ids(rng: np.random.Generator, n: int, length: int = 22) -> np.ndarray:
    """``n`` distinct random base-62 ids (Spotify-like), as a str array."""
    while True:
        codes = _ID_ALPHABET[rng.integers(0, len(_ID_ALPHABET), size=(n, length))]
        ids = np.ascontiguousarray(codes).view(f"S{length}").ravel().astype(str)
        if len(np.unique(ids)) == n:
            return ids


def _genre_names(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``n`` micro-genres, taken round-robin over the families; made-up ones past the lists."""
    families = list(vocab.FAMILIES)
    names: list[str] = []
    fam: list[int] = []
    depth = 0
    longest = max(len(v[1]) for v in vocab.FAMILIES.values())
    while len(names) < n and depth < longest:
        for f, family in enumerate(families):
            genres = vocab.FAMILIES[family][1]
            if depth < len(genres) and len(names) < n:
                names.append(genres[depth])
                fam.append(f)
        depth += 1
    k = 0
    base = list(zip(names, fam, strict=True))
    while len(names) < n:
        prefix = vocab.GENRE_PREFIXES[(k // len(base)) % len(vocab.GENRE_PREFIXES)]
        stem, f = base[k % len(base)]
        candidate = f"{prefix} {stem}"
        if (k // len(base)) >= len(vocab.GENRE_PREFIXES):
            candidate = f"{candidate} {k // (len(base) * len(vocab.GENRE_PREFIXES)) + 1}"
        if candidate not in names:
            names.append(candidate)
            fam.append(f)
        k += 1
    return np.array(names), np.array(fam, dtype=np.int64), np.array(families)


def _ar_growth(
    rng: np.random.Generator, n: int, weeks: int, phi: float, sigma: float, kappa: float
) -> np.ndarray:
    """Log level of an AR(1)-growth process, (n, weeks); level 0 at week 0.

    Shocks are drawn week-major (all of week 1, then week 2, ...), so a longer
    horizon continues the same path.
    """
    growth = rng.normal(0.0, sigma / np.sqrt(1 - phi**2), size=n)
    level = np.zeros((n, weeks))
    shocks = rng.normal(0.0, sigma, size=(weeks, n))
    for w in range(1, weeks):
        growth = phi * growth + shocks[w]
        level[:, w] = (1 - kappa) * level[:, w - 1] + growth
    return level


def _pick(rng: np.random.Generator, words: Sequence[str], n: int) -> np.ndarray:
    return np.asarray(words)[rng.integers(0, len(words), size=n)]


def _track_names(rng: np.random.Generator, n: int) -> np.ndarray:
    en1, en2 = _pick(rng, vocab.WORDS_EN, n), _pick(rng, vocab.WORDS_EN, n)
    pl1, pl2 = _pick(rng, vocab.WORDS_PL, n), _pick(rng, vocab.WORDS_PL, n)
    pattern = rng.integers(0, 5, size=n)
    names = np.select(
        [pattern == 0, pattern == 1, pattern == 2, pattern == 3],
        [
            en1,
            np.char.add(np.char.add(en1, " "), en2),
            pl1,
            np.char.add(np.char.add(pl1, " "), pl2),
        ],
        default=np.char.add(np.char.add(en1, " "), np.char.lower(en2)),
    )
    suffix = np.where(rng.random(n) < 0.1, _pick(rng, vocab.TRACK_SUFFIXES, n), "")
    return np.char.add(names.astype(str), suffix)


def _artist_names(rng: np.random.Generator, n: int) -> np.ndarray:
    first, last = _pick(rng, vocab.ARTIST_FIRST, n), _pick(rng, vocab.ARTIST_LAST, n)
    prefix = _pick(rng, vocab.ARTIST_PREFIX, n)
    words = _pick(rng, vocab.WORDS_EN, n)
    band = _pick(rng, vocab.ARTIST_BANDS, n)
    pattern = rng.integers(0, 4, size=n)
    names = np.select(
        [pattern == 0, pattern == 1, pattern == 2],
        [
            np.char.add(np.char.add(first, " "), last),
            np.char.add(prefix, first),
            np.char.add(np.char.add(words, " "), band),
        ],
        default=np.char.add(np.char.add(first, " & The "), band),
    ).astype(str)
    # Same-named artists happen in real services too, but keep them rare: number repeats.
    _, inverse, counts = np.unique(names, return_inverse=True, return_counts=True)
    dup = counts[inverse] > 1
    rank = np.zeros(n, dtype=np.int64)
    order = np.argsort(inverse, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank[order] = np.arange(n) - np.repeat(starts, counts)
    tag = np.where(dup & (rank > 0), np.char.add(" ", (rank + 1).astype(str)), "")
    return np.char.add(names, tag)


def _user_names(rng: np.random.Generator, n: int) -> np.ndarray:
    first = _pick(rng, vocab.USER_FIRST, n)
    last = _pick(rng, vocab.USER_LAST, n)
    female = np.char.endswith(first, "a")
    fem_last = np.char.replace(np.char.replace(last, "ski", "ska"), "cki", "cka")
    return np.char.add(np.char.add(first, " "), np.where(female, fem_last, last)).astype(str)


def _build_genres(params: SyntheticParams, weeks: int) -> dict:
    rng = _rng(params.seed, STREAM_GENRES)
    names, family, families = _genre_names(params.genres)
    profiles = np.array([vocab.FAMILIES[f][0] for f in families])
    audio = np.clip(
        profiles[family] + rng.normal(0, GENRE_AUDIO_SD, (len(names), len(TASTE_DIMS))),
        0.01,
        0.99,
    )
    size = rng.lognormal(0.0, GENRE_SIZE_SIGMA, len(names))
    dyn = _rng(params.seed, STREAM_DYNAMICS)
    momentum = _ar_growth(
        dyn, len(names), weeks, GENRE_GROWTH_PHI, GENRE_GROWTH_SIGMA, GENRE_MEAN_REVERSION
    )
    return dict(
        genre_names=names,
        genre_family=family,
        family_names=families,
        genre_size=size / size.mean(),
        genre_audio=audio,
        genre_momentum=momentum,
    )


def _family_sampler(g: dict) -> GroupedSampler:
    n_fam = len(g["family_names"])
    return GroupedSampler.build(
        g["genre_family"], np.arange(len(g["genre_names"])), g["genre_size"], n_fam
    )


def _distinct_rows(picks: np.ndarray) -> np.ndarray:
    """Replace repeats inside each row by -1 and move the kept genres to the front."""
    out = picks.copy()
    for j in range(1, out.shape[1]):
        rep = (out[:, [j]] == out[:, :j]).any(axis=1)
        out[rep, j] = -1
    order = np.argsort(out < 0, axis=1, kind="stable")
    return np.take_along_axis(out, order, axis=1)


def _rng_at(seed: int, stream: int, key: int) -> np.random.Generator:
    """The random stream of one block (a week's releases, sign-ups, noise): keyed, not shared.

    ``key + 1``: a SeedSequence ignores trailing zeros, so ``[seed, stream, 0]``
    would be the stream ``[seed, stream]`` that :func:`_rng` gives.
    """
    return np.random.default_rng([int(seed), stream, int(key) + 1])


@dataclass(frozen=True)
class _Context:
    """What a block of new tracks or users is drawn against (the fixed genres and artists)."""

    params: SyntheticParams
    genres: dict
    fam_sampler: GroupedSampler
    p_size: np.ndarray
    artist_genres: np.ndarray
    artist_quality: np.ndarray
    artist_offset: np.ndarray


def _draw_tracks(
    rng: np.random.Generator, ctx: _Context, track_artist: np.ndarray, days: np.ndarray
) -> dict[str, np.ndarray]:
    """Per-track attributes of one block of tracks (their artists and release days given).

    Every value depends only on the block's own draws, so a block is the same
    whatever else the catalogue holds. Popularity and storage class come from the
    track's percentile in the *known* distribution of its noisy static appeal (not a
    rank among the other tracks), for the same reason.
    """
    g = ctx.genres
    n_tr = len(track_artist)
    main_genre = ctx.artist_genres[track_artist, 0]
    family = g["genre_family"][main_genre]
    taste = g["genre_audio"][main_genre] + ctx.artist_offset[track_artist]
    taste = np.clip(taste + rng.normal(0, TRACK_AUDIO_SD, taste.shape), 0.0, 1.0)
    audio = {
        "danceability": np.clip(taste[:, 0], 0.06, 0.98),
        "energy": np.clip(taste[:, 1], 0.02, 0.999),
        "key": rng.integers(0, 12, n_tr).astype(np.int64),
        "loudness": np.clip(-21.0 + 16.0 * taste[:, 1] + rng.normal(0, 1.5, n_tr), -35.0, -1.0),
        "speechiness": np.clip(taste[:, 2], 0.022, 0.95),
        "acousticness": np.clip(taste[:, 3], 1e-5, 0.995),
        "instrumentalness": np.clip(taste[:, 4] - 0.05, 0.0, 0.98),
        "liveness": np.where(
            rng.random(n_tr) < 0.04, rng.uniform(0.6, 0.95, n_tr), rng.beta(1.6, 9.0, n_tr)
        ).clip(0.02, 0.99),
        "valence": np.clip(taste[:, 5], 0.03, 0.98),
        "tempo": np.clip(60.0 + 140.0 * taste[:, 6], 55.0, 210.0),
    }
    jazz = np.isin(g["family_names"][family], ["jazz", "folk"])
    duration = rng.lognormal(np.log(205_000.0), 0.22, n_tr) * np.where(jazz, 1.25, 1.0)
    explicit_p = np.array(
        [vocab.EXPLICIT_SHARE.get(f, vocab.DEFAULT_EXPLICIT_SHARE) for f in g["family_names"]]
    )[family]
    explicit = (rng.random(n_tr) < explicit_p).astype(np.int64)
    names = _track_names(rng, n_tr) if n_tr else np.zeros(0, dtype=str)
    quality = rng.lognormal(0.0, TRACK_QUALITY_SIGMA, n_tr)
    peak = rng.lognormal(np.log(HYPE_PEAK_MEDIAN), HYPE_PEAK_SIGMA, n_tr)
    peak_week = rng.uniform(0.0, HYPE_PEAK_WEEK_MAX, n_tr)
    decay = rng.lognormal(np.log(HYPE_DECAY_MEDIAN_WEEKS), HYPE_DECAY_SIGMA, n_tr)
    static = np.log(quality) + np.log(ctx.artist_quality[track_artist])
    noisy = static + rng.normal(0.0, POPULARITY_NOISE_SD, n_tr)
    pct = ndtr(noisy / POPULARITY_SCORE_SD)
    base_cost = np.select([pct > 0.8, pct > 0.4], [0.25, 0.12], default=0.04)
    return dict(
        track_artist=track_artist,
        track_taste=taste.astype(np.float32),
        audio=audio,
        duration_ms=np.clip(duration, 75_000, 720_000).astype(np.int64),
        explicit=explicit,
        track_names=names.astype(str),
        release_date=np.datetime64(ctx.params.start_date, "D") + days.astype("timedelta64[D]"),
        release_week=days / 7.0,
        popularity=np.clip(np.round(98.0 * pct**1.4), 0, 100).astype(np.int64),
        storage_class=np.where(pct > 0.8, "fast", np.where(pct > 0.4, "medium", "slow")),
        daily_cost=np.round(base_cost * rng.uniform(0.8, 1.2, n_tr), 4),
        static=static,
        peak=peak,
        peak_week=peak_week,
        decay=decay,
    )


def _catalogue_block(ctx: _Context) -> dict[str, np.ndarray]:
    """Tracks released before week 0: a recent batch and an old catalogue (every artist has one)."""
    p = ctx.params
    rng = _rng(p.seed, STREAM_TRACKS)
    n_art = len(ctx.artist_quality)
    mean = max(p.tracks_per_artist * (1.0 - IN_WINDOW_SHARE) - 1.0, 0.0)
    per_artist = 1 + rng.poisson(mean, n_art)
    track_artist = np.repeat(np.arange(n_art), per_artist)
    n_tr = len(track_artist)
    recent = rng.random(n_tr) < RECENT_CATALOG_SHARE / (1.0 - IN_WINDOW_SHARE)
    recent[np.cumsum(per_artist) - per_artist] = False  # every artist has an old track
    days = np.where(
        recent,
        -rng.integers(1, RECENT_CATALOG_WEEKS + 1, n_tr) * 7 + 4,
        -rng.integers(RECENT_CATALOG_WEEKS * 7, CATALOG_YEARS * 365, n_tr),
    )
    return _draw_tracks(rng, ctx, track_artist, days)


def _release_block(ctx: _Context, week: int) -> dict[str, np.ndarray]:
    """The new releases of world week ``week`` (a Friday): Poisson per artist, own stream."""
    p = ctx.params
    rng = _rng_at(p.seed, STREAM_RELEASES, week)
    rate = p.tracks_per_artist * IN_WINDOW_SHARE / RELEASE_REFERENCE_WEEKS
    counts = rng.poisson(rate, len(ctx.artist_quality))
    track_artist = np.repeat(np.arange(len(counts)), counts)
    days = np.full(len(track_artist), week * 7 + 4, dtype=np.int64)
    return _draw_tracks(rng, ctx, track_artist, days)


def _block_ids(seed: int, block: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Track ids of a block, which of its tracks also have an alias, and the alias ids."""
    alias = _rng_at(seed, STREAM_ALIASES, block).random(n) < ALIAS_SHARE
    ids = random_ids(_rng_at(seed, STREAM_IDS, block), n + int(alias.sum()))
    return ids[:n], np.nonzero(alias)[0], ids[n:]


def _draw_users(rng: np.random.Generator, ctx: _Context, n_us: int) -> dict[str, np.ndarray]:
    """One block of users (the first ones, or a week's sign-ups), from the block's own stream."""
    g = ctx.genres
    n_genres = len(g["genre_names"])
    first = rng.choice(n_genres, size=n_us, p=ctx.p_size)
    same = ctx.fam_sampler.sample(rng, np.repeat(g["genre_family"][first], 2)).reshape(n_us, 2)
    anywhere = rng.choice(n_genres, size=(n_us, 2), p=ctx.p_size)
    more = np.where(rng.random((n_us, 2)) < FAV_SAME_FAMILY_P, same, anywhere)
    more = np.where(rng.random((n_us, 2)) < FAV_EXTRA_P, more, first[:, None])
    user_fav = _distinct_rows(np.column_stack([first, more]))
    fav_audio = np.where(
        (user_fav >= 0)[:, :, None], g["genre_audio"][np.maximum(user_fav, 0)], np.nan
    )
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an empty block: mean of nothing
        centre = np.nanmean(fav_audio, axis=1) if n_us else np.zeros((0, len(TASTE_DIMS)))
    user_taste = np.clip(centre + rng.normal(0, USER_TASTE_SD, (n_us, len(TASTE_DIMS))), 0.0, 1.0)
    premium = rng.random(n_us) < PREMIUM_SHARE
    activity = rng.lognormal(-(ACTIVITY_SIGMA**2) / 2, ACTIVITY_SIGMA, n_us)
    skip_bias = rng.normal(0, USER_SKIP_BIAS_SD, n_us)
    like_bias = rng.normal(0, USER_LIKE_BIAS_SD, n_us)
    cities, weights = zip(*vocab.CITIES, strict=True)
    w_city = np.asarray(weights) / sum(weights)
    user_city = np.asarray(cities)[rng.choice(len(cities), size=n_us, p=w_city)]
    street_no = rng.integers(1, 160, n_us).astype(str)
    user_street = np.char.add(
        np.char.add(np.char.add("ul. ", _pick(rng, vocab.STREETS, n_us)), " "), street_no
    )
    return dict(
        user_fav=user_fav,
        taste=user_taste.astype(np.float32),
        premium=premium,
        activity=activity,
        skip_bias=skip_bias,
        like_bias=like_bias,
        user_city=user_city.astype(str),
        user_street=user_street.astype(str),
        user_names=_user_names(rng, n_us) if n_us else np.zeros(0, dtype=str),
    )


def _concat(blocks: list[dict]) -> dict:
    """Concatenate blocks key by key (dicts of arrays, e.g. ``audio``, are merged the same way)."""
    out = {}
    for key, first in blocks[0].items():
        if isinstance(first, dict):
            out[key] = {k: np.concatenate([b[key][k] for b in blocks]) for k in first}
        else:
            out[key] = np.concatenate([b[key] for b in blocks])
    return out


def _track_noise(seed: int, first_week: np.ndarray, n_by_week: np.ndarray) -> np.ndarray:
    """Mean-reverting AR(1) wobble per track, (T, W+1), drawn week by week.

    Week ``w`` draws one shock per track that exists by then (the first
    ``n_by_week[w]`` tracks) from its own stream; a track starts at a stationary
    draw in its first week. A longer horizon adds columns and leaves these as they are.
    """
    rho, sigma = TRACK_NOISE_RHO, TRACK_NOISE_SIGMA
    out = np.zeros((len(first_week), len(n_by_week)))
    for w, n_w in enumerate(n_by_week):
        shock = _rng_at(seed, STREAM_NOISE, w).normal(0.0, 1.0, int(n_w))
        prev = out[:n_w, w - 1] if w else np.zeros(n_w)
        start = first_week[:n_w] == w
        out[:n_w, w] = np.where(
            start, shock * sigma / np.sqrt(1 - rho**2), rho * prev + sigma * shock
        )
    return out


def build_world(params: SyntheticParams) -> World:
    """The synthetic service, deterministic from ``params`` (same params: the same world).

    The horizon ``params.weeks`` only says how far the world is played: every
    part is drawn by block from its own keyed stream (the catalogue before week 0,
    each week's releases and sign-ups, each week's shocks), so the world at
    horizon N+1 is the world at horizon N plus one more week (tracks and users
    keep their positions; new ones are appended).
    """
    start = _parse_start(params.start_date)
    weeks = params.weeks + 1  # + the week after the dump
    g = _build_genres(params, weeks)
    n_genres = len(g["genre_names"])
    fam_sampler = _family_sampler(g)
    p_size = g["genre_size"] / g["genre_size"].sum()

    # --- artists: a main genre by size, extra genres from the same family ---
    rng = _rng(params.seed, STREAM_ARTISTS)
    n_art = params.artists
    main = rng.choice(n_genres, size=n_art, p=p_size)
    extra = fam_sampler.sample(rng, np.repeat(g["genre_family"][main], 2)).reshape(n_art, 2)
    extra = np.where(rng.random((n_art, 2)) < ARTIST_EXTRA_GENRES_P, extra, main[:, None])
    artist_genres = _distinct_rows(np.column_stack([main, extra]))
    artist_quality = rng.lognormal(0.0, ARTIST_QUALITY_SIGMA, n_art)
    artist_offset = rng.normal(0.0, ARTIST_AUDIO_SD, (n_art, len(TASTE_DIMS)))
    artist_names = _artist_names(rng, n_art)
    dyn = _rng(params.seed, STREAM_DYNAMICS + 100)
    artist_momentum = _ar_growth(
        dyn, n_art, weeks, ARTIST_GROWTH_PHI, ARTIST_GROWTH_SIGMA, ARTIST_MEAN_REVERSION
    )
    ctx = _Context(params, g, fam_sampler, p_size, artist_genres, artist_quality, artist_offset)

    # --- tracks: the catalogue (block 0), then each week's releases (block 1 + week) ---
    blocks = [_catalogue_block(ctx)] + [_release_block(ctx, w) for w in range(weeks)]
    sizes = np.array([len(b["track_artist"]) for b in blocks], dtype=np.int64)
    tr = _concat(blocks)
    n_tr = len(tr["track_artist"])
    track_block = np.repeat(np.arange(len(blocks)), sizes)
    ids = [_block_ids(params.seed, k, int(n)) for k, n in enumerate(sizes)]
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    track_ids = np.concatenate([i[0] for i in ids])
    alias_track = np.concatenate([i[1] + offsets[k] for k, i in enumerate(ids)])
    alias_ids = np.concatenate([i[2] for i in ids])
    artist_ids = random_ids(_rng(params.seed, STREAM_IDS), n_art)
    if len(np.unique(np.concatenate([artist_ids, track_ids, alias_ids]))) != (
        n_art + n_tr + len(alias_ids)
    ):  # 22 base-62 characters: never in practice, but never silently
        raise AssertionError("two synthetic ids collide")

    # weekly appeal: catalogue level x hype x momentum x noise x availability
    release_week = tr["release_week"]
    w_idx = np.arange(weeks)
    age = (w_idx[None, :] + 0.5) - release_week[:, None]
    avail = np.clip((w_idx[None, :] + 1) - release_week[:, None], 0.0, 1.0)
    a = np.maximum(age, 0.0)
    pw = tr["peak_week"][:, None]
    shape = np.where(
        a <= pw, ((a + 1.0) / (pw + 1.0)) ** 1.5, np.exp(-(a - pw) / tr["decay"][:, None])
    )
    hype = 1.0 + tr["peak"][:, None] * shape
    n_by_week = offsets[2 : weeks + 2]  # tracks that exist by the end of each week
    noise = _track_noise(params.seed, np.maximum(track_block - 1, 0), n_by_week)
    with np.errstate(divide="ignore"):
        log_appeal = (
            tr["static"][:, None]
            + np.log(hype)
            + noise
            + artist_momentum[tr["track_artist"]]
            + np.log(avail)
        )
    # standardised per week over the tracks out by then (a prefix: the same sums at any horizon)
    appeal_z = np.zeros_like(log_appeal)
    for w, n_w in enumerate(n_by_week):
        col = log_appeal[:n_w, w]
        ok = np.isfinite(col)
        vals = col[ok]
        mean = vals.sum() / max(len(vals), 1)
        sd = np.sqrt(max(((vals - mean) ** 2).sum() / max(len(vals), 1), 1e-9))
        appeal_z[:n_w, w] = np.where(ok, (np.where(ok, col, 0.0) - mean) / sd, 0.0)

    # --- users: the first ones (block 0), then each week's sign-ups (block 1 + week) ---
    user_blocks = [_draw_users(_rng(params.seed, STREAM_USERS), ctx, params.users)]
    for w in range(weeks):
        rng = _rng_at(params.seed, STREAM_SIGNUPS, w)
        user_blocks.append(
            _draw_users(rng, ctx, int(rng.poisson(params.users * params.signup_rate)))
        )
    us = _concat(user_blocks)
    user_block = np.repeat(np.arange(len(user_blocks)), [len(b["activity"]) for b in user_blocks])
    # scale of user-track audio distances (first users x catalogue), for a standardised taste fit
    rng = _rng(params.seed, STREAM_SCALE)
    i = rng.integers(0, params.users, 20_000)
    j = rng.integers(0, int(sizes[0]), 20_000)
    d = np.linalg.norm(us["taste"][i] - tr["track_taste"][j], axis=1)

    return World(
        params=params,
        start=start,
        n_weeks=params.weeks,
        **g,
        artist_ids=artist_ids,
        artist_names=artist_names,
        artist_genres=artist_genres,
        artist_quality=artist_quality,
        artist_momentum=artist_momentum,
        track_ids=track_ids,
        track_names=tr["track_names"],
        track_artist=tr["track_artist"],
        track_genres=artist_genres[tr["track_artist"]],
        track_taste=tr["track_taste"],
        audio=tr["audio"],
        duration_ms=tr["duration_ms"],
        explicit=tr["explicit"],
        release_date=tr["release_date"],
        release_week=release_week,
        popularity=tr["popularity"],
        storage_class=tr["storage_class"],
        daily_cost=tr["daily_cost"],
        log_appeal=log_appeal.astype(np.float32),
        appeal_z=appeal_z.astype(np.float32),
        track_block=track_block,
        user_ids=(101 + np.arange(len(user_block))).astype(str),
        user_names=us["user_names"],
        user_city=us["user_city"],
        user_street=us["user_street"],
        user_fav=us["user_fav"],
        premium=us["premium"],
        activity=us["activity"],
        taste=us["taste"],
        skip_bias=us["skip_bias"],
        like_bias=us["like_bias"],
        user_block=user_block,
        dist_center=float(np.median(d)),
        dist_scale=float(max(np.std(d), 1e-6)),
        alias_ids=alias_ids,
        alias_track=alias_track,
    )


def genre_weights(world: World, week: int) -> np.ndarray:
    """How strongly each genre draws listening in ``week``: base size x momentum.

    Genres with no released track that week get 0 (nothing to play).
    """
    has_track = np.zeros(world.n_genres, dtype=bool)
    released = np.isfinite(world.log_appeal[:, week])
    tg = world.track_genres[released]
    has_track[tg[tg >= 0]] = True
    return world.genre_size * np.exp(world.genre_momentum[:, week]) * has_track
