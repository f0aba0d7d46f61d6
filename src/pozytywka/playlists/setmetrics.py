"""The week's playlists measured as a set: set reach, the exclusive oracle, capture@k.

Definitions (DESIGN §4, docs/definitions.md), for a target week with actual
listening known:

- **Set reach**: distinct listeners with at least one full play of a published
  track in the target week (a track in two playlists counts once, and so does a
  listener who played several of them). Needs the week's (listener, track) full
  plays: :func:`pozytywka.plays.weekly_listeners`.
- **Exclusive oracle**: the set chosen in hindsight by the *same* greedy set
  selection (:func:`pozytywka.playlists.publish.build_playlist_set`, the same
  params and candidate tracks) run on the actual popularity of the target week
  instead of a model's scores. **Reach share** = a set's reach / the oracle's.
  The oracle is the best set of the greedy on popularity, not the set of the
  highest possible reach (that is a max-coverage problem): a model's set can
  reach more listeners than it, so a share may exceed 1.
- **Per-playlist capture@k**: a playlist's first k tracks (in published order)'s
  actual popularity over that of the week's global top k tracks (every track
  with a full play that week, not only the candidates), averaged over the week's
  playlists. The measure other teams report for this task (issue 21). In [0, 1].

Track popularity is distinct listeners with a full play (DESIGN §4), so it is
the number of rows of a track in the week's listener table.

**Across weeks** (:func:`summarise_sets`): means with a 95% interval across weeks
(the independent replications, as in :mod:`pozytywka.playlists.metrics`):
capture is bounded, so its interval is the logit-t interval of
:func:`~pozytywka.playlists.metrics.bounded_mean_ci`; reach (listeners) and
reach share (may exceed 1) get Student's t (:func:`~pozytywka.playlists.metrics.mean_ci`),
its lower end clipped at 0 (neither can be negative).
Fewer than 2 weeks: no interval (``null``). A week with no oracle reach (nobody
played a candidate) has no share (``null``), and is left out of that mean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from ..config import PlaylistParams
from .metrics import (
    INTERVAL_METHOD,
    MIN_WEEKS_FOR_INTERVAL,
    TOO_FEW_WEEKS,
    bounded_mean_ci,
    mean_ci,
)
from .publish import build_playlist_set

#: Cut-offs of per-playlist capture reported by the backtest.
CAPTURE_KS = (10, 20)
#: The models measured, in the order they are reported (the oracle last).
SET_MODELS = ("baseline", "catboost", "oracle")


def set_reach(track_ids: Iterable[str], listeners: pd.DataFrame) -> int:
    """Distinct ``user_id`` of ``listeners`` with a full play of any of ``track_ids``.

    ``listeners``: the target week's full plays, one row per (``user_id``,
    ``track_id``) (more rows per pair do not change the answer).
    """
    ids = {str(t) for t in track_ids}
    if not ids or listeners.empty:
        return 0
    hit = listeners["track_id"].astype(str).isin(ids)
    return int(listeners.loc[hit, "user_id"].nunique())


def week_popularity(listeners: pd.DataFrame) -> pd.Series:
    """Track popularity (distinct listeners with a full play) from a week's listener table.

    Returns a Series indexed by ``track_id`` (str), sorted by popularity desc then id.
    """
    pairs = listeners[["user_id", "track_id"]].astype(str).drop_duplicates()
    pop = pairs.groupby("track_id", sort=True).size().astype("int64")
    order = np.lexsort((pop.index.to_numpy(), -pop.to_numpy()))
    return pop.iloc[order]


def capture_at_k(playlists: Sequence[Sequence[str]], popularity: pd.Series, k: int) -> float | None:
    """Per-playlist capture@k, averaged over ``playlists`` (track ids in published order).

    ``popularity``: the target week's popularity by ``track_id``, every played
    track (a track missing from it counts 0). None with no playlist or when
    nobody played anything (the global top k sums to 0).
    """
    top = float(np.sort(popularity.to_numpy(dtype=float))[::-1][:k].sum())
    if not playlists or top <= 0:
        return None
    pop = popularity.to_dict()
    ratios = [sum(float(pop.get(str(t), 0)) for t in p[:k]) / top for p in playlists]
    return float(np.mean(ratios))


def exclusive_oracle(
    candidates: pd.DataFrame,
    tracks: pd.DataFrame,
    track_genres: pd.DataFrame,
    params: PlaylistParams,
) -> tuple[list[dict], list[dict]]:
    """The exclusive oracle's playlists: the greedy set selection on actual popularity.

    ``candidates``: ``track_id``, ``actual`` (the target week's popularity; NaN
    counts 0). Returns :func:`build_playlist_set`'s ``(playlists, skipped)``.
    """
    scores = pd.DataFrame(
        {
            "track_id": candidates["track_id"].astype(str).to_numpy(),
            "score": pd.to_numeric(candidates["actual"], errors="coerce").fillna(0.0).to_numpy(),
        }
    )
    return build_playlist_set(scores, tracks, track_genres, params)


def track_lists(playlists: list[dict]) -> list[list[str]]:
    """The track ids of each playlist, in published order."""
    return [[t["track_id"] for t in p["tracks"]] for p in playlists]


def week_set_measures(
    predictions: pd.DataFrame,
    listeners: pd.DataFrame,
    tracks: pd.DataFrame,
    track_genres: pd.DataFrame,
    params: PlaylistParams,
    models: Sequence[str] = ("baseline", "catboost"),
    ks: Sequence[int] = CAPTURE_KS,
) -> dict:
    """One backtest week's row: each model's set and the oracle's, measured.

    ``predictions``: the week's candidates (``track_id``, ``actual``, a
    ``{model}_score`` per model); ``listeners``: the *target* week's full plays
    (``user_id``, ``track_id``). Returns ``listeners`` (distinct listeners with a
    full play that week) and per model in ``models`` + ``oracle``:
    ``{m}_playlists``, ``{m}_reach``, ``{m}_reach_share`` (None when the oracle
    reaches nobody) and ``{m}_capture_at_{k}`` (None when undefined).
    """
    popularity = week_popularity(listeners)
    sets = {}
    for model in models:
        scores = predictions[["track_id"]].assign(score=predictions[f"{model}_score"])
        sets[model] = build_playlist_set(scores, tracks, track_genres, params)[0]
    sets["oracle"] = exclusive_oracle(predictions, tracks, track_genres, params)[0]
    row: dict = {"listeners": int(listeners["user_id"].nunique()) if len(listeners) else 0}
    reach = {
        m: set_reach({t for p in track_lists(s) for t in p}, listeners) for m, s in sets.items()
    }
    for model, playlists in sets.items():
        lists = track_lists(playlists)
        row[f"{model}_playlists"] = len(lists)
        row[f"{model}_reach"] = reach[model]
        row[f"{model}_reach_share"] = reach[model] / reach["oracle"] if reach["oracle"] else None
        for k in ks:
            row[f"{model}_capture_at_{k}"] = capture_at_k(lists, popularity, k)
    return row


def by_week_columns(
    models: Sequence[str] = SET_MODELS, ks: Sequence[int] = CAPTURE_KS
) -> list[str]:
    """The per-week table's columns (``reports/evaluate/playlist_sets_by_week.csv``)."""
    per_model = ["playlists", "reach", "reach_share"] + [f"capture_at_{k}" for k in ks]
    return ["week_start", "target_week", "listeners"] + [
        f"{m}_{c}" for c in per_model for m in models
    ]


def _round(x: float | None) -> float | None:
    if x is None or not math.isfinite(float(x)):
        return None
    return round(float(x), 6)


def _mean_interval(values: pd.Series, bounded: bool) -> dict[str, float | None]:
    """Mean and 95% interval of the defined values (None for none, no interval below 2)."""
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if len(v) == 0:
        return {"mean": None, "low": None, "high": None}
    if bounded:
        mean, low, high = bounded_mean_ci(v)
    else:  # a count or a ratio of counts: never below 0
        mean, low, high = mean_ci(v)
        low = max(low, 0.0)
    if len(v) < MIN_WEEKS_FOR_INTERVAL:
        low = high = None
    return {"mean": _round(mean), "low": _round(low), "high": _round(high)}


def summarise_sets(
    by_week: pd.DataFrame,
    n_genres: int,
    models: Sequence[str] = SET_MODELS,
    ks: Sequence[int] = CAPTURE_KS,
) -> dict:
    """``metrics/playlist_sets.json`` from the per-week table (:func:`week_set_measures` rows).

    Keys: ``n_genres``, ``weeks_evaluated``, ``evaluated_weeks`` (feature weeks:
    each predicts the week after), ``interval``, per model ``reach``,
    ``reach_share``, ``capture_at_{k}``, each with ``_ci_low`` / ``_ci_high``;
    ``weeks_catboost_reach_better`` (CatBoost's set reached more listeners than the
    baseline's), ``weeks_catboost_reach_tied``, ``listeners`` (mean a week).
    """
    n = len(by_week)
    out: dict = {
        "n_genres": int(n_genres),
        "weeks_evaluated": n,
        "evaluated_weeks": [str(w) for w in by_week.get("week_start", [])],
        "interval": INTERVAL_METHOD if n >= MIN_WEEKS_FOR_INTERVAL else TOO_FEW_WEEKS,
        "listeners": _round(by_week["listeners"].mean()) if n else None,
    }
    for model in models:
        section: dict = {}
        for name, bounded in [("reach", False), ("reach_share", False)] + [
            (f"capture_at_{k}", True) for k in ks
        ]:
            stats = _mean_interval(by_week[f"{model}_{name}"], bounded) if n else None
            stats = stats or {"mean": None, "low": None, "high": None}
            section[name] = stats["mean"]
            section[f"{name}_ci_low"] = stats["low"]
            section[f"{name}_ci_high"] = stats["high"]
        out[model] = section
    if {"baseline", "catboost"} <= set(models) and n:
        diff = by_week["catboost_reach"].to_numpy() - by_week["baseline_reach"].to_numpy()
        out["weeks_catboost_reach_better"] = int((diff > 0).sum())
        out["weeks_catboost_reach_tied"] = int((diff == 0).sum())
    else:
        out["weeks_catboost_reach_better"] = 0
        out["weeks_catboost_reach_tied"] = 0
    return out
