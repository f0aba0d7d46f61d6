"""Per (week, track) features known at the end of the week, and next week's target.

Everything is computed on a dense (track x week) grid of the weekly counts from
:mod:`pozytywka.plays` (numpy arrays, no Python loops over rows): a value in
column ``w`` uses only weeks ``<= w``, and the one column that looks ahead, the
``target``, is built by shifting popularity one week back. ``tests/test_features.py``
perturbs a week's events and checks that the earlier weeks' features do not move.

Lags that fall before the first complete week are unknown (NaN, which CatBoost
treats as "missing"), not zero: a track's first weeks in the log are not weeks in
which nobody listened. Derived features (means, trends, rates) treat them as 0.

Candidates of week ``w``: tracks played at least ``features.min_plays`` times in
the history window (weeks ``w-history_weeks+1 .. w``); with ``min_plays: 0`` every
catalogue track released by the end of the week. Tracks that nobody plays are
not worth ranking, and leaving them out keeps training small.

The catalogue's static ``popularity`` field is *not* a feature: it is a snapshot
taken when the dump was made, i.e. after every backtest week, so it would leak
the future into the backtest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..checks import required_complete_weeks
from ..config import FeaturesParams
from ..dump_format import AUDIO_FEATURES
from ..errors import PozytywkaError
from ..weeks import WEEK

AUDIO_COLUMNS = [*AUDIO_FEATURES, "duration_ms", "explicit"]

# Model features besides the pop_lag_* columns (which depend on history_weeks).
FEATURE_COLUMNS = [
    "pop_mean",
    "pop_max",
    "pop_diff_1",
    "pop_ratio_1",
    "pop_trend",
    "plays_0",
    "full_plays_0",
    "listeners_0",
    "listeners_ratio_1",
    "likes_0",
    "skip_rate",
    "like_rate",
    "full_play_rate",
    "weeks_since_release",
    "weeks_since_first_play",
    "artist_pop_0",
    "artist_pop_1",
    "artist_trend",
    "artist_ratio_1",
    "artist_share",
    "genre_pop_max",
    "genre_pop_mean",
    "genre_trend_max",
    "genre_trend_mean",
    "genre_ratio_mean",
    "genre_share_max",
    "genre_rank_best",
    "n_genres",
    "total_ratio_1",
    *AUDIO_COLUMNS,
]

# Smoothing strength of the rates: pseudo-plays at the week's global rate, so a
# track with 2 plays and 1 skip is not ranked as a 50 % skipper.
RATE_PRIOR_PLAYS = 10.0


def lag_columns(history_weeks: int) -> list[str]:
    return [f"pop_lag_{i}" for i in range(history_weeks)]


def model_feature_columns(history_weeks: int) -> list[str]:
    """The columns a model reads: lags first, then :data:`FEATURE_COLUMNS`."""
    return lag_columns(history_weeks) + FEATURE_COLUMNS


def check_enough_weeks(
    n_weeks: int, min_train_weeks: int, valid_weeks: int, eval_weeks: int
) -> None:
    """Stop with one clear line when the dump is too short to train and evaluate."""
    need = required_complete_weeks(min_train_weeks, valid_weeks, eval_weeks)
    if n_weeks < need:
        raise PozytywkaError(
            f"the dump has {n_weeks} complete weeks but {need} are needed "
            f"(split.min_train_weeks {min_train_weeks} + split.valid_weeks {valid_weeks} "
            f"+ evaluate.eval_weeks {eval_weeks} + 1 prediction week): use a longer dump "
            "or lower those params"
        )


def _shift(m: np.ndarray, lag: int) -> np.ndarray:
    """Column ``w`` of the result is column ``w - lag`` of ``m`` (NaN before the start)."""
    out = np.full(m.shape, np.nan)
    if lag < m.shape[1]:
        out[:, lag:] = m[:, : m.shape[1] - lag]
    return out


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(a + 1) / (b + 1), unknown b counted as 0: a smoothed growth factor."""
    return (a + 1.0) / (np.nan_to_num(b) + 1.0)


def _rolling_sum(m: np.ndarray, window: int) -> np.ndarray:
    """Sum over columns ``w-window+1 .. w`` (missing early columns count as 0)."""
    c = np.cumsum(np.pad(m, ((0, 0), (1, 0))), axis=1)
    lo = np.clip(np.arange(m.shape[1]) + 1 - window, 0, None)
    return c[:, 1:] - c[:, lo]


def build_features(
    weekly: pd.DataFrame,
    tracks: pd.DataFrame,
    track_genres: pd.DataFrame,
    weeks: list[pd.Timestamp],
    params: FeaturesParams,
    gap_weeks: Sequence[pd.Timestamp] = (),
) -> pd.DataFrame:
    """Features of every candidate (week, track) of the complete ``weeks``.

    ``weekly`` is :func:`pozytywka.plays.weekly_popularity`; ``tracks`` and
    ``track_genres`` are the interim tables. Returns rows sorted by week, track,
    with ``week_start``, ``track_id``, ``artist_id``, ``popularity``, the lags,
    :data:`FEATURE_COLUMNS`, ``target`` (next week's popularity, NaN in the last
    week), ``is_prediction_week`` and ``gap_in_window`` (see :func:`gap_windows`).
    """
    h = params.history_weeks
    week_index = pd.DatetimeIndex(sorted(pd.Timestamp(w) for w in weeks)).astype("datetime64[us]")
    n_w = len(week_index)
    ids = set(weekly["track_id"].astype(str))
    if params.min_plays == 0:
        ids |= set(tracks["track_id"].astype(str))
    track_ids = np.array(sorted(ids), dtype=object)
    n_t = len(track_ids)
    if n_w == 0 or n_t == 0:
        raise PozytywkaError(
            "no complete week with plays in the dump: nothing to build features on"
        )

    t_pos = pd.Index(track_ids)
    wk = weekly[weekly["week_start"].isin(week_index)]
    ti = t_pos.get_indexer(wk["track_id"].astype(str))
    wi = week_index.get_indexer(wk["week_start"])

    def grid(col: str) -> np.ndarray:
        m = np.zeros((n_t, n_w))
        m[ti, wi] = wk[col].to_numpy(dtype=float)
        return m

    pop, plays, full, skips, likes, listeners = (
        grid(c) for c in ("popularity", "plays", "full_plays", "skips", "likes", "listeners")
    )

    feats: dict[str, np.ndarray] = {"popularity": pop}
    lags = [_shift(pop, i) for i in range(h)]
    for i, m in enumerate(lags):
        feats[f"pop_lag_{i}"] = m
    lag_stack = np.nan_to_num(np.stack(lags))  # (h, T, W)
    feats["pop_mean"] = lag_stack.mean(axis=0)
    feats["pop_max"] = lag_stack.max(axis=0)
    prev = _shift(pop, 1)
    feats["pop_diff_1"] = pop - np.nan_to_num(prev)
    feats["pop_ratio_1"] = _ratio(pop, prev)
    if h > 1:
        # least-squares slope of popularity over the window (lag i at x = -i)
        x = -np.arange(h, dtype=float)
        x -= x.mean()
        feats["pop_trend"] = np.tensordot(x, lag_stack, axes=1) / float((x**2).sum())
    else:
        feats["pop_trend"] = np.zeros_like(pop)
    feats["plays_0"] = plays
    feats["full_plays_0"] = full
    feats["listeners_0"] = listeners
    feats["listeners_ratio_1"] = _ratio(listeners, _shift(listeners, 1))
    feats["likes_0"] = likes

    plays_h = _rolling_sum(plays, h)
    skips_h = _rolling_sum(skips, h)
    likes_h = _rolling_sum(likes, h)
    full_h = _rolling_sum(full, h)
    tot_plays = np.maximum(plays_h.sum(axis=0), 1.0)  # per week: the global rates
    for name, num in (("skip_rate", skips_h), ("like_rate", likes_h), ("full_play_rate", full_h)):
        prior = num.sum(axis=0) / tot_plays
        feats[name] = (num + RATE_PRIOR_PLAYS * prior) / (plays_h + RATE_PRIOR_PLAYS)

    # weeks since the track's first play in the log (first complete week with a play)
    played = plays > 0
    first = np.where(played.any(axis=1), played.argmax(axis=1), n_w).astype(float)
    since_first = np.arange(n_w)[None, :] - first[:, None]
    feats["weeks_since_first_play"] = np.where(since_first >= 0, since_first, np.nan)

    # catalogue attributes (static, known before the week)
    cat = (
        tracks.assign(track_id=tracks["track_id"].astype(str))
        .drop_duplicates("track_id")
        .set_index("track_id")
        .reindex(track_ids)
    )
    week_end = (week_index + WEEK).to_numpy()
    release = pd.to_datetime(cat["release_date"]).to_numpy(dtype="datetime64[us]")
    age_days = (week_end[None, :] - release[:, None]) / np.timedelta64(1, "D")
    feats["weeks_since_release"] = np.asarray(age_days, dtype=float) / 7.0
    for col in AUDIO_COLUMNS:
        vals = (
            pd.to_numeric(cat[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
            if col in cat
            else np.full(n_t, np.nan)
        )
        feats[col] = np.repeat(vals[:, None], n_w, axis=1)

    # artist momentum: the artist's total popularity this and last week
    artist = cat["artist_id"].astype("string")
    a_codes, a_uniques = pd.factorize(artist, sort=True)
    has_artist = a_codes >= 0
    a_pop = np.zeros((len(a_uniques), n_w))
    np.add.at(a_pop, a_codes[has_artist], pop[has_artist])
    art0 = np.full((n_t, n_w), np.nan)
    art0[has_artist] = a_pop[a_codes[has_artist]]
    art1 = _shift(art0, 1)
    feats["artist_pop_0"] = art0
    feats["artist_pop_1"] = art1
    feats["artist_trend"] = art0 - np.nan_to_num(art1)
    feats["artist_ratio_1"] = _ratio(art0, art1)
    feats["artist_share"] = pop / np.maximum(art0, 1.0)

    # genre momentum: genre popularity = sum over its tracks; a track has several
    # genres, so it gets the max and mean over them (NaN when it has none)
    tg = track_genres.assign(track_id=track_genres["track_id"].astype(str))
    tg = tg[tg["track_id"].isin(t_pos)].drop_duplicates(["track_id", "genre"])
    p_track = t_pos.get_indexer(tg["track_id"])
    p_genre, g_uniques = pd.factorize(tg["genre"], sort=True)
    g_pop = np.zeros((len(g_uniques), n_w))
    np.add.at(g_pop, p_genre, pop[p_track])
    g_prev = _shift(g_pop, 1)
    g_trend = g_pop - np.nan_to_num(g_prev)
    g_ratio = _ratio(g_pop, g_prev)
    # rank of the track inside each genre this week (1 = most popular; ties share)
    pair_pop = pop[p_track]
    n_genres = np.bincount(p_track, minlength=n_t).astype(float)
    feats["n_genres"] = np.repeat(n_genres[:, None], n_w, axis=1)
    genre_rank = _rank_in_genre(pair_pop, p_genre)

    def per_track(values: np.ndarray, how: str) -> np.ndarray:
        if how == "max":
            out = np.full((n_t, n_w), -np.inf)
            np.maximum.at(out, p_track, values)
        elif how == "min":
            out = np.full((n_t, n_w), np.inf)
            np.minimum.at(out, p_track, values)
        else:
            out = np.zeros((n_t, n_w))
            np.add.at(out, p_track, values)
            out = out / np.maximum(n_genres, 1.0)[:, None]
        out[n_genres == 0] = np.nan
        return out

    feats["genre_pop_max"] = per_track(g_pop[p_genre], "max")
    feats["genre_pop_mean"] = per_track(g_pop[p_genre], "mean")
    feats["genre_trend_max"] = per_track(g_trend[p_genre], "max")
    feats["genre_trend_mean"] = per_track(g_trend[p_genre], "mean")
    feats["genre_ratio_mean"] = per_track(g_ratio[p_genre], "mean")
    feats["genre_share_max"] = per_track(pair_pop / np.maximum(g_pop[p_genre], 1.0), "max")
    feats["genre_rank_best"] = per_track(genre_rank, "min")

    total = pop.sum(axis=0, keepdims=True)
    feats["total_ratio_1"] = np.repeat(_ratio(total, _shift(total, 1)), n_t, axis=0)

    target = np.full((n_t, n_w), np.nan)
    target[:, :-1] = pop[:, 1:]
    feats["target"] = target

    # candidates: played >= min_plays times in the history window
    if params.min_plays > 0:
        keep = _rolling_sum(plays, h) >= params.min_plays
    else:
        released = np.isnan(age_days) | (age_days > 0)
        keep = np.asarray(released, dtype=bool)
    w_idx, t_idx = np.nonzero(keep.T)  # week-major: rows sorted by week, then track

    out = pd.DataFrame(
        {
            "week_start": week_index[w_idx],
            "track_id": pd.array(track_ids[t_idx], dtype="string"),
            "artist_id": pd.array(artist.to_numpy()[t_idx], dtype="string"),
        }
    )
    for name in ["popularity", *model_feature_columns(h), "target"]:
        out[name] = feats[name][t_idx, w_idx]
    out["popularity"] = out["popularity"].astype("int64")
    out["is_prediction_week"] = out["week_start"] == week_index[-1]
    touched = gap_windows(week_index, gap_weeks, h)
    out["gap_in_window"] = pd.array(touched[w_idx], dtype="string")
    return out.reset_index(drop=True)


def gap_windows(
    week_index: pd.DatetimeIndex, gap_weeks: Sequence[pd.Timestamp], history_weeks: int
) -> np.ndarray:
    """Per feature week: the gap weeks (``YYYY-MM-DD``, comma-separated; "" for none)
    among the weeks its row reads, i.e. its history window (the ``history_weeks``
    weeks up to and including it: the lags) and its target week (the one after).

    A week whose window holds a gap (:mod:`pozytywka.gaps`) has a history or a
    target that is missing rather than zero; :func:`labelled_weeks` leaves it
    out of training and the backtest.
    """
    gaps = {pd.Timestamp(g) for g in gap_weeks}
    out = []
    for week in week_index:
        window = [week + WEEK * j for j in range(1 - history_weeks, 2)]
        out.append(",".join(w.strftime("%Y-%m-%d") for w in window if w in gaps))
    return np.array(out, dtype=object)


def _rank_in_genre(pair_pop: np.ndarray, p_genre: np.ndarray) -> np.ndarray:
    """Per (track, genre) pair and week: 1 + number of the genre's tracks more popular.

    ``pair_pop`` is (pairs x weeks). Vectorised through pandas' grouped rank
    ("min" method: ties share the best rank).
    """
    n_pairs, n_w = pair_pop.shape
    if n_pairs == 0:
        return pair_pop.copy()
    frame = pd.DataFrame(
        {
            "genre": np.repeat(p_genre, n_w),
            "week": np.tile(np.arange(n_w), n_pairs),
            "pop": pair_pop.ravel(),
        }
    )
    ranks = frame.groupby(["genre", "week"])["pop"].rank(method="min", ascending=False)
    return ranks.to_numpy().reshape(n_pairs, n_w)


def labelled_weeks(features: pd.DataFrame, usable_only: bool = True) -> list[pd.Timestamp]:
    """Feature weeks whose target is known (every week but the prediction week).

    With ``usable_only`` (the default: what training and the backtest use), weeks
    whose history or target touches a gap in the log (``gap_in_window``) are left out.
    """
    rows = ~features["is_prediction_week"]
    if usable_only and "gap_in_window" in features:
        rows &= features["gap_in_window"].fillna("") == ""
    weeks = features.loc[rows, "week_start"].unique()
    return sorted(pd.Timestamp(w) for w in weeks)


def gap_touched_weeks(features: pd.DataFrame) -> dict[pd.Timestamp, str]:
    """Labelled feature weeks whose window holds a gap -> the gap weeks (comma-separated)."""
    if "gap_in_window" not in features:
        return {}
    rows = features[~features["is_prediction_week"] & (features["gap_in_window"].fillna("") != "")]
    pairs = rows[["week_start", "gap_in_window"]].drop_duplicates("week_start")
    return {pd.Timestamp(w): str(g) for w, g in pairs.itertuples(index=False)}
