"""Offline ranking metrics of a model's chosen top-k tracks within a genre (DESIGN §4).

For one (feature week, genre) group, with ``actual`` = the tracks' popularity in
the next week and ``score`` = a model's prediction, and k' = min(k, tracks):

- **NDCG@k**: ``sklearn.metrics.ndcg_score`` with gains = actual popularity.
- **relevant** tracks: the actual top-k of the genre *including ties* (every
  track whose actual popularity is at least that of the k-th best) with actual
  popularity > 0. With the many ties of small counts this set is often larger
  than k, and smaller when fewer than k tracks were listened to at all, which is
  why precision and recall differ.
- **precision@k** = relevant tracks among the chosen k' / k', where
  k' = min(k, n) and n = the genre's candidate tracks: a genre with fewer than k
  candidates is judged on the n it has (all of them chosen), not penalised for
  slots that could not be filled (a project decision, issue 10: with n <= k
  every candidate is chosen). **recall@k** = relevant tracks among the chosen /
  number of relevant tracks.
- A chosen set with no relevant track scores precision = recall = 0; a group
  with no relevant track at all (nobody listened to any candidate) is undefined
  (see below), never 0/0.
- **capture ratio** = actual popularity of the chosen k' / that of the best
  possible k' (the oracle that knew next week).

Ties in a model's scores (common for the baseline: small integer counts) are
broken *in expectation*: the tracks tied at the cut-off share the remaining
slots equally. This is the convention ``ndcg_score`` uses (``ignore_ties=False``)
and it keeps every metric independent of track ids and row order.

A group with fewer than 2 tracks or no listened track next week has no defined
ranking quality and is left out; a backtest week left with no group is left out
of the averages *by name*, with its reason (:func:`left_out_weeks`; weeks whose
history or target touches a gap in the log are left out before, by the
backtest). Groups are averaged per week, weeks averaged for the headline
numbers.

**Intervals across weeks** (weeks are the independent replications; genres of
a week are not): every metric lives in a bounded range ([0, 1]; the paired
NDCG difference in [-1, 1]), and with a handful of weeks a plain Student-t
interval leaves it (issue 9: ``0.291 [-0.958, 1.540]`` over 2 weeks). So the
interval is the **logit-transformed t interval** of :func:`bounded_mean_ci`:
map the range to [0, 1], take the mean ``m`` and its standard error ``se``,
form ``logit(m) +- t_{1-a/2, n-1} * se / (m (1 - m))`` (the delta method gives
the standard error on the logit scale) and map back. This is the interval
Stata's ``proportion`` command reports for a proportion (Stata Reference
Manual, ``[R] proportion``, Methods and formulas: "the confidence interval is
computed on the logit scale and transformed back"), with Student's t on n - 1
degrees of freedom so that it stays honest with few weeks. It always lies
inside the range, always contains the mean, is wide when weeks are few or
spread, and narrows to the usual t interval when the mean is far from the
ends. A bootstrap was rejected: with 2 to 6 weeks it has 3 to 462 distinct
resamples and its percentile interval is known to under-cover (Efron &
Tibshirani 1993, §13). With fewer than :data:`MIN_WEEKS_FOR_INTERVAL` weeks
there is no interval at all (``None`` in the JSON, "too few weeks" in words).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import ndcg_score

METRIC_NAMES = ("ndcg_at_k", "precision_at_k", "recall_at_k", "capture_ratio")


def selection_weights(score: np.ndarray, k: int) -> np.ndarray:
    """Probability that each track is among the top-k by ``score`` (ties shared)."""
    score = np.asarray(score, dtype=float)
    n = len(score)
    k = min(k, n)
    if k == 0:
        return np.zeros(n)
    kth = np.sort(score)[::-1][k - 1]
    above = score > kth
    tied = score == kth
    weights = above.astype(float)
    weights[tied] = (k - above.sum()) / tied.sum()
    return weights


def group_metrics(actual: np.ndarray, score: np.ndarray, k: int) -> dict[str, float] | None:
    """The four metrics of one genre's ranking, or None when they are undefined.

    ``actual`` (next week's popularity, users) and ``score`` (a model's
    prediction) are aligned arrays over the genre's n candidate tracks; the cut is
    k' = min(k, n) (module docstring). None when n < 2 or no track has actual > 0.
    """
    actual = np.asarray(actual, dtype=float)
    score = np.asarray(score, dtype=float)
    n = len(actual)
    if n < 2 or not (actual > 0).any():
        return None
    k_eff = min(k, n)
    chosen = selection_weights(score, k_eff)
    kth_actual = np.sort(actual)[::-1][k_eff - 1]
    relevant = (actual >= kth_actual) & (actual > 0)
    hits = float(chosen[relevant].sum())
    oracle = float(np.sort(actual)[::-1][:k_eff].sum())
    return {
        "ndcg_at_k": float(ndcg_score(actual[None, :], score[None, :], k=k)),
        "precision_at_k": hits / k_eff,
        "recall_at_k": hits / float(relevant.sum()),
        "capture_ratio": float((chosen * actual).sum()) / oracle,
    }


def top_genres(features_week: pd.DataFrame, track_genres: pd.DataFrame, n_genres: int) -> list[str]:
    """The ``n_genres`` most popular genres of a feature week (known at prediction time).

    Genre popularity = sum of its tracks' popularity in that week (DESIGN §4);
    ties broken by name so the choice is deterministic.
    """
    pairs = track_genres.merge(
        features_week[["track_id", "popularity"]].astype({"track_id": str}),
        on="track_id",
    )
    pop = pairs.groupby("genre", sort=True)["popularity"].sum().reset_index()
    pop = pop.sort_values(["popularity", "genre"], ascending=[False, True], kind="stable")
    return list(pop["genre"].head(n_genres))


def genre_week_metrics(
    predictions: pd.DataFrame,
    features: pd.DataFrame,
    track_genres: pd.DataFrame,
    models: list[str],
    k: int,
    n_genres: int,
) -> pd.DataFrame:
    """One row per evaluated (week_start, genre): ``{model}_{metric}`` columns.

    ``predictions`` has ``week_start``, ``track_id``, ``actual`` and a
    ``{model}_score`` column per model; ``features`` gives the feature week's
    popularity that picks the genres (the same genres for every model).
    """
    tg = track_genres.astype({"track_id": str, "genre": str})
    rows = []
    for week, preds in predictions.groupby("week_start", sort=True):
        fweek = features[features["week_start"] == week]
        genres = top_genres(fweek, tg, n_genres)
        pairs = preds.astype({"track_id": str}).merge(tg[tg["genre"].isin(genres)], on="track_id")
        for genre, group in pairs.groupby("genre", sort=True):
            group = group.sort_values("track_id")
            row: dict = {"week_start": week, "genre": genre, "n_tracks": len(group)}
            for model in models:
                values = group_metrics(group["actual"], group[f"{model}_score"], k)
                if values is None:
                    break
                row.update({f"{model}_{m}": v for m, v in values.items()})
            else:
                rows.append(row)
    columns = ["week_start", "genre", "n_tracks"] + [
        f"{model}_{m}" for model in models for m in METRIC_NAMES
    ]
    return pd.DataFrame(rows, columns=columns)


def weekly_metrics(by_genre: pd.DataFrame) -> pd.DataFrame:
    """Average over the evaluated genres of each week (one row per week)."""
    value_columns = [c for c in by_genre.columns if c not in ("week_start", "genre", "n_tracks")]
    weekly = by_genre.groupby("week_start", sort=True)[value_columns].mean()
    weekly.insert(0, "n_genres", by_genre.groupby("week_start", sort=True).size())
    return weekly.reset_index()


#: Fewer evaluated weeks than this: no interval ("too few weeks"). Two weeks are
#: the least that estimate a spread (n - 1 = 1 degree of freedom).
MIN_WEEKS_FOR_INTERVAL = 2
TOO_FEW_WEEKS = "too few weeks for an interval"


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def _expit(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


def bounded_mean_ci(
    values: np.ndarray, low: float = 0.0, high: float = 1.0, confidence: float = 0.95
) -> tuple[float, float | None, float | None]:
    """Mean of values in ``[low, high]`` and its logit-transformed t interval.

    See the module docstring for the method and its source. Returns
    ``(mean, ci_low, ci_high)``; the interval is ``None`` with fewer than
    :data:`MIN_WEEKS_FOR_INTERVAL` values, and ``(mean, mean)`` when they do
    not vary (no spread was seen; also the only case with a mean on an end of
    the range). Raises ``ValueError`` for a value outside the range.
    """
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if len(values) < MIN_WEEKS_FOR_INTERVAL:
        return mean, None, None
    if values.min() < low - 1e-12 or values.max() > high + 1e-12:
        raise ValueError(f"values outside [{low}, {high}]: {values.min()}..{values.max()}")
    width = high - low
    p = min(max((mean - low) / width, 0.0), 1.0)
    se = float(values.std(ddof=1)) / math.sqrt(len(values)) / width
    if se == 0.0 or p in (0.0, 1.0):
        return mean, mean, mean
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * se / (p * (1 - p))
    centre = _logit(p)
    return mean, low + width * _expit(centre - half), low + width * _expit(centre + half)


def left_out_weeks(predictions: pd.DataFrame, by_genre: pd.DataFrame) -> list[dict]:
    """Backtest weeks that produced no evaluated (week, genre) group, with the reason.

    ``predictions``: the backtest's (``week_start`` per predicted track);
    ``by_genre``: :func:`genre_week_metrics`' rows. Returns
    ``[{"week_start": "YYYY-MM-DD", "reason": str}]`` sorted by week.
    """
    scored = set(pd.to_datetime(by_genre["week_start"]))
    out = []
    for week, rows in predictions.groupby("week_start", sort=True):
        if pd.Timestamp(week) in scored:
            continue
        listened = int((rows["actual"] > 0).sum())
        out.append(
            {
                "week_start": pd.Timestamp(week).strftime("%Y-%m-%d"),
                "reason": (
                    "no evaluated genre had 2 or more candidate tracks with a listened one "
                    f"the next week ({len(rows)} candidates, {listened} listened next week)"
                ),
            }
        )
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


INTERVAL_METHOD = "logit-transformed Student t across weeks (95%)"


def summarise(
    weekly: pd.DataFrame,
    k: int,
    models: tuple[str, str] = ("baseline", "catboost"),
    left_out: list[dict] | None = None,
) -> dict:
    """``metrics/offline.json`` (DESIGN §6) from the per-week table.

    Besides the required keys: ``evaluated_weeks`` (their ``week_start``),
    ``left_out_weeks`` (``left_out``: ``{"week_start", "reason"}`` per week the
    backtest could not score), ``interval`` (the method, or "too few weeks ...");
    per model and metric ``{metric}_ci_low/high`` (:func:`bounded_mean_ci`,
    ``null`` with too few weeks); ``ndcg_lift`` (relative, CatBoost over
    baseline), the paired per-week NDCG difference with its CI (``ndcg_diff``,
    ``ndcg_diff_ci_low/high``, in [-1, 1]), its spread (``ndcg_diff_std``,
    ``ndcg_diff_min``, ``ndcg_diff_max``) and ``weeks_catboost_better``.
    """
    n = len(weekly)
    out: dict = {
        "k": int(k),
        "weeks_evaluated": n,
        "evaluated_weeks": [pd.Timestamp(w).strftime("%Y-%m-%d") for w in weekly["week_start"]],
        "left_out_weeks": sorted(left_out or [], key=lambda w: w["week_start"]),
        "interval": INTERVAL_METHOD if n >= MIN_WEEKS_FOR_INTERVAL else TOO_FEW_WEEKS,
    }
    for model in models:
        section = {}
        for metric in METRIC_NAMES:
            mean, low, high = bounded_mean_ci(weekly[f"{model}_{metric}"].to_numpy())
            section[metric] = _round(mean)
            section[f"{metric}_ci_low"] = _round(low)
            section[f"{metric}_ci_high"] = _round(high)
        out[model] = section
    base, cand = models
    diff = weekly[f"{cand}_ndcg_at_k"].to_numpy() - weekly[f"{base}_ndcg_at_k"].to_numpy()
    mean, low, high = bounded_mean_ci(diff, -1.0, 1.0)
    base_mean = float(weekly[f"{base}_ndcg_at_k"].mean())
    out["ndcg_diff"] = _round(mean)
    out["ndcg_diff_ci_low"] = _round(low)
    out["ndcg_diff_ci_high"] = _round(high)
    out["ndcg_diff_std"] = _round(diff.std(ddof=1) if len(diff) > 1 else 0.0)
    out["ndcg_diff_min"] = _round(diff.min())
    out["ndcg_diff_max"] = _round(diff.max())
    out["ndcg_lift"] = _round(mean / base_mean if base_mean > 0 else 0.0)
    out["weeks_catboost_better"] = int((diff > 0).sum())
    return out
