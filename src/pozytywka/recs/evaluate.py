"""Evaluation by time (DESIGN §11): tune before, then roll over the evaluated weeks.

Weeks are the complete weeks of the interactions, in order. The last
``recs.eval_weeks`` are evaluated; the ``recs.valid_weeks`` just before them tune
the hyper-params; at least ``recs.min_train_weeks`` must precede those.

- **Tuning.** Each model gets the same budget: at most ``recs.tune_budget``
  combinations of its grid (a seeded sample when the grid is larger), each fitted
  before every validation week and scored by mean NDCG@20 there. The best is kept.
  The candidate model of the two-stage model (``auto``) is the personal model with
  the best validation NDCG@20. The re-ranker is scored on the validation weeks too
  (learnt on the weeks before each). The **strongest baseline** is the baseline
  (:data:`~.models.BASELINES`) with the best validation NDCG@20
  (:func:`strongest_baseline`), and arm B of the live experiment is the best other
  model only if it beat that baseline there (:func:`choose_arm_b`). Nothing of the
  evaluated weeks is looked at.
- **Rolling.** For each evaluated week w: every model is fitted on the weeks
  before w and recommends for every listener with a full play in w, ranked against
  the whole catalogue; both ``exclude_seen`` settings are scored from the same
  scores. The re-ranker of week w learns on the ``rerank.train_weeks`` weeks before w.
- **The next week.** The ranker ``recs_publish`` uses for the week after the data
  learns on the last ``rerank.train_weeks`` weeks, from the candidate frames this
  rolling already built (the same frames ``recs_publish`` would build again).
- **Summary.** Per model, each metric's mean over weeks with a 95%
  interval across weeks (logit-t, :func:`pozytywka.playlists.metrics.bounded_mean_ci`:
  it stays inside [0, 1]), plus the
  oracle's recall (the ceiling); each model's NDCG@20 minus the strongest baseline's,
  with a 95% t interval of the per-week differences, and the weeks it was better
  (:func:`compare`); "no signal" when no model's interval is above 0 (:func:`verdict`).
- **Nothing to learn.** A week with no listener who fully played a track is left
  out (its metrics are undefined); a re-ranker whose training weeks hold no positive
  (or one class) is not fitted and the candidate order stands (the reason is kept);
  no NaN reaches the summary (``None`` instead).
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ..config import RecsParams, as_dict
from ..errors import PozytywkaError
from ..playlists.metrics import bounded_mean_ci, mean_ci
from ..weeks import WEEK
from . import metrics as M
from .interactions import Catalogue, TrainData, active_users, relevant, train_data
from .models import BASELINES, FALLBACK, MODELS, PERSONAL, Recommender
from .models.base import BATCH, top_lists
from .rerank import (
    candidate_features,
    fit_ranker,
    merge_candidates,
    rerank,
    track_week_features,
)

log = logging.getLogger(__name__)
TUNE_METRIC = "ndcg_at_20"
RERANK = "catboost"  # the two-stage model (DESIGN §6 keys models by name)
ORACLE = "oracle"
SETTINGS = (False, True)  # exclude_seen
#: Models whose scores are not re-ranker features: the charts repeat ``pop_lag_0`` and the
#: listener's own weights ``pair_weight``; with ``popularity_all`` and ``own_most_played``
#: in, the synthetic validation week's NDCG@20 fell from 0.2805 to 0.2781 (docs/recs.md).
NOT_RANKER_FEATURES = ("popularity", "popularity_all", "own_most_played")
#: Models scored in the rolling evaluation, in report order (the oracle aside).
SCORED = (*MODELS, RERANK)


def split_weeks(weeks: list[pd.Timestamp], rp: RecsParams) -> tuple[list, list]:
    """(validation weeks, evaluated weeks); too few weeks stop with one line."""
    need = rp.min_train_weeks + rp.valid_weeks + rp.eval_weeks
    if len(weeks) < need:
        raise PozytywkaError(
            f"recs needs {need} complete weeks (recs.min_train_weeks {rp.min_train_weeks} + "
            f"recs.valid_weeks {rp.valid_weeks} + recs.eval_weeks {rp.eval_weeks}), "
            f"the data has {len(weeks)}"
        )
    evaluated = weeks[-rp.eval_weeks :]
    valid = weeks[-rp.eval_weeks - rp.valid_weeks : -rp.eval_weeks]
    return valid, evaluated


def grid(name: str, rp: RecsParams) -> list[dict]:
    """The configurations tried for a model: at most ``tune_budget``, seeded sample."""
    section = {
        "popularity": rp.popularity,
        "popularity_genres": rp.popularity,
        "itemknn": rp.itemknn,
        "ease": rp.ease,
        "als": rp.als,
        "svd": rp.svd,
    }.get(name)  # popularity_all, own_most_played: nothing to tune
    values = as_dict(section) if section is not None else {}
    keys = sorted(k for k, v in values.items() if isinstance(v, list))
    combos = [
        dict(zip(keys, c, strict=True)) for c in itertools.product(*(values[k] for k in keys))
    ]
    fixed = {k: v for k, v in values.items() if not isinstance(v, list)}
    if len(combos) > rp.tune_budget:
        rng = np.random.default_rng(rp.seed)
        pick = sorted(rng.choice(len(combos), size=rp.tune_budget, replace=False))
        combos = [combos[i] for i in pick]
    return [{**fixed, **c, "seed": rp.seed} for c in combos]


def fit_model(name: str, hyper: dict, data: TrainData, fallback: Recommender | None) -> Recommender:
    model = MODELS[name](**hyper).fit(data)
    model.fallback = fallback
    return model


def fit_all(data: TrainData, hyper: dict[str, dict]) -> dict[str, Recommender]:
    """Every model with its hyper-params, fitted on ``data``; cold listeners fall back."""
    fallback = fit_model(FALLBACK, hyper[FALLBACK], data, None)
    return {
        name: fallback if name == FALLBACK else fit_model(name, hyper[name], data, fallback)
        for name in MODELS
    }


@dataclass
class Fitted:
    """Models fitted before one week (by name), their training data and fit CPU seconds."""

    data: TrainData
    models: dict[str, Recommender] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class WeekRun:
    """One week's lists (top 20 per model and setting) and, if asked, its candidate frame."""

    week: pd.Timestamp
    users: np.ndarray
    truth: sp.csr_matrix  # rows of ``users``
    heard: sp.csr_matrix  # rows of ``users``
    data: TrainData
    recs: dict[tuple[str, bool], np.ndarray] = field(default_factory=dict)
    frame: pd.DataFrame | None = None
    fit_seconds: dict[str, float] = field(default_factory=dict)


def run_week(
    interactions: pd.DataFrame,
    cat: Catalogue,
    week: pd.Timestamp,
    rp: RecsParams,
    hyper: dict[str, dict],
    cand_model: str | None,
    playlist_features: pd.DataFrame | None,
    users: np.ndarray | None = None,
    k: int = 20,
    prefit: Fitted | None = None,
    models: tuple[str, ...] | None = None,
) -> WeekRun:
    """Fit every model before ``week`` and list top-k for its active listeners (or ``users``).

    ``prefit``: the week's training data and models already fitted with ``hyper``
    (the tuning's, on a validation week), used instead of fitting them again;
    ``models``: only these models (and the fallback) are fitted and listed.
    """
    data = prefit.data if prefit is not None else train_data(interactions, week, cat, rp.weights)
    truth = relevant(interactions, week, cat)
    if users is None:
        users = active_users(truth)
    fitted, fit_seconds = {}, {}
    for name in [FALLBACK] + [m for m in MODELS if m != FALLBACK]:
        if models is not None and name != FALLBACK and name not in models:
            continue
        if prefit is not None and name in prefit.models:
            fitted[name] = prefit.models[name]
            fit_seconds[name] = prefit.seconds[name]
            continue
        t0 = time.process_time()
        fitted[name] = fit_model(name, hyper[name], data, fitted.get(FALLBACK))
        fit_seconds[name] = time.process_time() - t0
    run = WeekRun(week, users, truth[users], data.heard[users], data, fit_seconds=fit_seconds)
    recs = {key: [] for key in itertools.product(fitted, SETTINGS)}
    frames = []
    track_week = (
        track_week_features(playlist_features, week, cat.items)
        if playlist_features is not None and cand_model
        else pd.DataFrame()
    )
    n_cand = min(rp.rerank.candidates, data.n_items)
    for start in range(0, len(users), BATCH):
        batch = users[start : start + BATCH]
        scores = {name: m.scores(batch) for name, m in fitted.items()}
        heard = data.heard[batch]
        deep = {}
        for name, s in scores.items():  # one selection: both settings and the candidates
            deep[name], unseen = top_lists(s, heard, k, n_cand if cand_model else k)
            recs[(name, False)].append(deep[name][:, :k])
            recs[(name, True)].append(unseen)
        if cand_model:
            cand = merge_candidates(deep[cand_model][:, : n_cand // 2], deep[FALLBACK], n_cand)
            pair_scores = {
                name: np.take_along_axis(s, cand, axis=1)
                for name, s in scores.items()
                if name not in NOT_RANKER_FEATURES
            }
            frames.append(candidate_features(data, batch, cand, pair_scores, track_week))
    run.recs = {key: np.vstack(v) if v else np.empty((0, k), np.int64) for key, v in recs.items()}
    if cand_model:
        run.frame = pd.concat(frames, ignore_index=True) if frames else None
    return run


def week_metrics(run: WeekRun, recs: np.ndarray, n_items: int) -> dict[str, float]:
    """Mean metrics over the week's listeners for one list (plus coverage and novelty).

    The week must have at least one listener (:func:`evaluate` leaves others out).
    """
    vals = {key: float(v.mean()) for key, v in M.per_user(recs, run.truth).items()}
    for k in M.KS:
        vals[f"coverage_at_{k}"] = M.coverage(recs, k, n_items)
        vals[f"novelty_at_{k}"] = M.novelty(recs, k, run.data.heard)
    return vals


def mean_ndcg(recs: np.ndarray, truth: sp.csr_matrix) -> float:
    """Mean NDCG@20 over the listeners of ``truth`` (its rows); NaN when there are none."""
    if truth.shape[0] == 0:
        return float("nan")
    return float(M.per_user(recs, truth)[TUNE_METRIC].mean())


def nan_mean(values) -> float:
    """Mean of the finite values (NaN when none is): weeks with no listener are left out."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def _better(score: float, best: float) -> bool:
    """Is ``score`` strictly better than ``best`` (a NaN is worse than any number)?"""
    if np.isnan(score):
        return False
    return bool(np.isnan(best) or score > best)


def tune(
    interactions: pd.DataFrame, cat: Catalogue, valid: list[pd.Timestamp], rp: RecsParams
) -> tuple[dict[str, dict], pd.DataFrame, dict[pd.Timestamp, Fitted]]:
    """Best hyper-params per model on the validation weeks; every trial's score; and the
    models fitted with the best hyper-params before each validation week (reused by the
    rolling evaluation, which fits the same models on the same weeks).

    A trial's score is the mean NDCG@20 over the validation weeks that have a listener
    (NaN when none has: the first configuration of the grid is kept)."""
    fits = {w: Fitted(train_data(interactions, w, cat, rp.weights)) for w in valid}
    truths = [relevant(interactions, w, cat) for w in valid]
    best: dict[str, dict] = {}
    trials = []
    for name in [FALLBACK] + [m for m in MODELS if m != FALLBACK]:
        results = []
        for hyper in grid(name, rp):
            values, models, seconds = [], [], []
            for fit, truth in zip(fits.values(), truths, strict=True):
                t0 = time.process_time()
                model = fit_model(name, hyper, fit.data, fit.models.get(FALLBACK))
                seconds.append(time.process_time() - t0)
                users = active_users(truth)
                recs = model.recommend(users, 20, rp.exclude_seen)
                values.append(mean_ndcg(recs, truth[users]))
                models.append(model)
            score = nan_mean(values)
            if not results or _better(score, results[0][0]):  # first of equals: grid order
                results = [(score, hyper, models, seconds)]
            trials.append({"model": name, "hyper": repr(_public(hyper)), TUNE_METRIC: score})
            log.info("tune %s %s: validation %s %.4f", name, _public(hyper), TUNE_METRIC, score)
        _, best[name], models, seconds = results[0]
        for fit, model, sec in zip(fits.values(), models, seconds, strict=True):
            fit.models[name], fit.seconds[name] = model, sec
    return best, pd.DataFrame(trials), fits


def _public(hyper: dict) -> dict:
    return {k: v for k, v in hyper.items() if k != "seed"}


def pick_candidate_model(trials: pd.DataFrame, rp: RecsParams) -> str:
    """The personal model with the best validation NDCG@20 (ties and NaN: name order)."""
    if rp.rerank.candidate_model != "auto":
        return rp.rerank.candidate_model
    personal = trials[trials["model"].isin(PERSONAL)]
    best = personal.groupby("model")[TUNE_METRIC].max().fillna(-np.inf)
    return str(best.sort_index().idxmax())


def train_rerank_frame(run: WeekRun) -> pd.DataFrame | None:
    """The week's candidate frame with labels, listeners without a relevant candidate dropped.

    ``label`` = 1 when the listener fully played the candidate in the week;
    ``group`` = one query per (week, listener). ``None`` when the week has no
    candidate frame (no listener).
    """
    if run.frame is None:
        return None
    frame = run.frame.copy()
    pos = np.searchsorted(run.users, frame["user"].to_numpy())
    frame["label"] = np.asarray(run.truth[pos, frame["item"].to_numpy()]).ravel()
    frame = frame[frame.groupby("user")["label"].transform("max") > 0].copy()
    week_no = int((run.week - pd.Timestamp("2000-01-03")).days // 7)
    frame["group"] = week_no * 100_000_000 + frame["user"].astype(np.int64)
    return frame


def rerank_training(runs: dict[pd.Timestamp, WeekRun], weeks: list[pd.Timestamp]):
    """The labelled candidate frames of ``weeks`` that were run, stacked (``None``: none)."""
    frames = [train_rerank_frame(runs[w]) for w in weeks if w in runs]
    frames = [f for f in frames if f is not None]
    return pd.concat(frames, ignore_index=True) if frames else None


def week_diagnostics(run: WeekRun) -> dict[str, float]:
    """What bounds every model in a week, over its relevant (listener, track) pairs.

    - ``relevant_per_listener``: mean relevant tracks of an evaluated listener;
    - ``relevant_unheard_share``: share of relevant pairs the listener had never
      played before the week (``exclude_seen`` can only reach these);
    - ``relevant_new_track_share``: share whose track nobody played before the week
      (a new release: no history-based model scores it above the rest);
    - ``relevant_in_favourite_genres_share``: share in one of the listener's declared
      favourite genres (what popularity in favourite genres bets on);
    - ``candidate_recall``: mean recall of the re-ranker's candidates (its ceiling).

    The week must have at least one listener.
    """
    truth, data = run.truth.tocoo(), run.data
    n_pairs = max(truth.nnz, 1)
    users, items = run.users[truth.row], truth.col
    heard = np.asarray(run.heard[truth.row, items]).ravel() > 0
    ever = np.diff(data.heard.tocsc().indptr) > 0
    in_fav = np.asarray((data.fav[users].multiply(data.item_genres[items])).sum(axis=1)).ravel()
    out = {
        "relevant_per_listener": truth.nnz / max(len(run.users), 1),
        "relevant_unheard_share": float((~heard).sum() / n_pairs),
        "relevant_new_track_share": float((~ever[items]).sum() / n_pairs),
        "relevant_in_favourite_genres_share": float((in_fav > 0).sum() / n_pairs),
    }
    if run.frame is not None:
        pos = np.searchsorted(run.users, run.frame["user"].to_numpy())
        hit = np.asarray(run.truth[pos, run.frame["item"].to_numpy()]).ravel()
        per_user = np.bincount(pos, hit, minlength=len(run.users))
        out["candidate_recall"] = float(np.mean(per_user / np.diff(run.truth.indptr)))
    return out


@dataclass
class Evaluation:
    hyper: dict[str, dict]
    candidate_model: str
    trials: pd.DataFrame
    by_week: pd.DataFrame  # week_start, model, exclude_seen, metrics... (evaluated weeks)
    fit_seconds: pd.DataFrame
    diagnostics: pd.DataFrame  # week_start, the keys of :func:`week_diagnostics`
    #: the ranker for the week after the data (learnt on the last ``train_weeks`` weeks,
    #: whose candidate frames the rolling evaluation built), its feature columns and why
    #: it was not fitted (``None`` when it was)
    next_ranker: tuple[object, list[str], str | None] | None = None
    #: week_start, model, exclude_seen, ndcg_at_20 on the validation weeks
    valid_by_week: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: week_start, split (valid / evaluated / next), why (no ranker fitted for that week)
    rerank_not_fitted: pd.DataFrame = field(default_factory=pd.DataFrame)
    #: evaluated or validation weeks left out: no listener fully played a track
    empty_weeks: list = field(default_factory=list)


def weeks_needed(
    weeks: list[pd.Timestamp], scored: list[pd.Timestamp], train_weeks: int
) -> list[pd.Timestamp]:
    """The weeks to run: each scored week and the ``train_weeks`` before it that have a
    week of history before them (the first week has none: nothing to learn from)."""
    out = set()
    for w in scored:
        i = weeks.index(w)
        out.add(w)
        out.update(weeks[i - j] for j in range(1, train_weeks + 1) if i - j >= 1)
    return sorted(out)


def evaluate(
    interactions: pd.DataFrame,
    cat: Catalogue,
    playlist_features: pd.DataFrame,
    rp: RecsParams,
    progress: bool = False,
) -> Evaluation:
    """Tune on the validation weeks, then roll over the evaluated weeks (module doc)."""
    weeks = sorted(pd.DatetimeIndex(interactions["week_start"].unique()))
    valid, evaluated = split_weeks(weeks, rp)
    hyper, trials, prefit = tune(interactions, cat, valid, rp)
    cand_model = pick_candidate_model(trials, rp)
    log.info("candidate model of the re-ranker: %s", cand_model)
    runs: dict[pd.Timestamp, WeekRun] = {}
    rows, valid_rows, fits, diagnostics, not_fitted, empty = [], [], [], [], [], []
    for w in weeks_needed(weeks, valid + evaluated, rp.rerank.train_weeks):
        t0 = time.perf_counter()
        runs[w] = run_week(
            interactions,
            cat,
            w,
            rp,
            hyper,
            cand_model,
            playlist_features,
            prefit=prefit.pop(w, None),
        )
        fits += [
            {"week_start": w, "model": m, "seconds": s} for m, s in runs[w].fit_seconds.items()
        ]
        log.info(
            "week %s: %d listeners, %.1f s", w.date(), len(runs[w].users), time.perf_counter() - t0
        )
    for w in valid + evaluated:
        run = runs[w]
        split = "valid" if w in valid else "evaluated"
        if not len(run.users):
            log.warning("%s week %s: no listener fully played a track, left out", split, w.date())
            empty.append(w)
            continue
        i = weeks.index(w)
        train = rerank_training(runs, weeks[max(i - rp.rerank.train_weeks, 0) : i])
        t0 = time.process_time()
        ranker, cols, why = fit_ranker(train, rp.rerank)
        if why is not None:
            log.warning("week %s: re-ranker not fitted (%s), candidate order kept", w.date(), why)
            not_fitted.append({"week_start": w, "split": split, "why": why})
        if split == "evaluated":
            fits.append({"week_start": w, "model": RERANK, "seconds": time.process_time() - t0})
        for ex in SETTINGS:
            run.recs[(RERANK, ex)] = rerank(ranker, cols, run.frame, len(run.users), 20, ex)
        if split == "valid":
            valid_rows += [
                {
                    "week_start": w,
                    "model": name,
                    "exclude_seen": ex,
                    TUNE_METRIC: mean_ndcg(recs, run.truth),
                }
                for (name, ex), recs in sorted(run.recs.items())
            ]
            continue
        diagnostics.append({"week_start": w, **week_diagnostics(run)})
        for (name, ex), recs in sorted(run.recs.items()):
            rows.append(
                {
                    "week_start": w,
                    "model": name,
                    "exclude_seen": ex,
                    **week_metrics(run, recs, cat.items.size),
                }
            )
        for ex in SETTINGS:
            oracle = {}
            for k in M.KS:
                r = M.oracle_recall(run.truth, k, run.heard if ex else None)
                oracle[f"recall_at_{k}"] = float(r.mean())
            rows.append({"week_start": w, "model": ORACLE, "exclude_seen": ex, **oracle})
        week_rows = [r for r in rows if r["week_start"] == w and not r["exclude_seen"]]
        log.info(
            "week %s: NDCG@20 %s",
            w.date(),
            ", ".join(
                f"{r['model']} {r['ndcg_at_20']:.4f}" for r in week_rows if "ndcg_at_20" in r
            ),
        )
    next_ranker = fit_ranker(rerank_training(runs, weeks[-rp.rerank.train_weeks :]), rp.rerank)
    if next_ranker[2] is not None:
        log.warning("next week's re-ranker not fitted (%s)", next_ranker[2])
        not_fitted.append({"week_start": weeks[-1] + WEEK, "split": "next", "why": next_ranker[2]})
    by_week = pd.DataFrame(rows, columns=["week_start", "model", "exclude_seen"] + _ROW_KEYS)
    by_week["listeners"] = by_week["week_start"].map({w: len(runs[w].users) for w in evaluated})
    return Evaluation(
        hyper,
        cand_model,
        trials,
        by_week,
        pd.DataFrame(fits),
        pd.DataFrame(diagnostics),
        next_ranker,
        pd.DataFrame(valid_rows, columns=["week_start", "model", "exclude_seen", TUNE_METRIC]),
        pd.DataFrame(not_fitted, columns=["week_start", "split", "why"]),
        empty,
    )


METRIC_KEYS = [f"{m}_at_{k}" for m in M.NAMES for k in M.KS]
_ROW_KEYS = METRIC_KEYS + [f"{m}_at_{k}" for m in ("coverage", "novelty") for k in M.KS]
DIGITS = 6


def _round(x) -> float | None:
    """A JSON number: rounded, ``None`` for NaN or a missing value (never NaN in JSON)."""
    if x is None:
        return None
    x = float(x)
    return round(x, DIGITS) if np.isfinite(x) else None


def strongest_baseline(valid: dict[str, float]) -> str:
    """The baseline with the best validation NDCG@20 (:data:`BASELINES` order on ties;
    a missing or NaN score counts as worse than any number).

    ``valid``: model name -> mean NDCG@20 over the validation weeks.
    """
    best = BASELINES[0]
    for name in BASELINES[1:]:
        if _better(float(valid.get(name, np.nan)), float(valid.get(best, np.nan))):
            best = name
    return best


def choose_arm_b(valid: dict[str, float], baseline: str) -> tuple[str, str]:
    """(arm B's model, the one sentence that says why) from validation NDCG@20 scores.

    The challenger is the best model that is not a baseline (:data:`SCORED` order on
    ties); it serves arm B only if its validation score is strictly above
    ``baseline``'s, otherwise arm B serves ``baseline`` (arm A serves ``FALLBACK``:
    when that is the baseline too, the live experiment is an A/A test and the
    sentence says so).
    """
    names = [m for m in SCORED if m not in BASELINES]
    challenger = names[0]
    for name in names[1:]:
        if _better(float(valid.get(name, np.nan)), float(valid.get(challenger, np.nan))):
            challenger = name
    vc, vb = float(valid.get(challenger, np.nan)), float(valid.get(baseline, np.nan))
    scores = f"NDCG@20 {_fmt(vc)} vs {_fmt(vb)}"
    if _better(vc, vb):
        return challenger, (
            f"Arm B serves `{challenger}`: it beat the strongest baseline `{baseline}` on the "
            f"validation weeks ({scores})."
        )
    same = (
        f"; arm A serves `{FALLBACK}` too, so the live experiment is an A/A test"
        if baseline == FALLBACK
        else ""
    )
    return baseline, (
        f"Arm B serves the strongest baseline `{baseline}`: no model beat it on the validation "
        f"weeks (the best, `{challenger}`: {scores}){same}."
    )


def _fmt(x: float | None, sign: bool = False) -> str:
    if x is None or not np.isfinite(x):
        return "n/a"
    return f"{x:+.4f}" if sign else f"{x:.4f}"


def compare(model: pd.Series, baseline: pd.Series) -> dict:
    """A model's NDCG@20 against the strongest baseline's, week by week.

    ``model``, ``baseline``: NDCG@20 indexed by week (weeks of ``model`` only).
    Returns ``ndcg_at_20_minus_baseline`` (mean of the per-week differences) with the
    95% Student-t interval of those differences across weeks (``_ci_low`` /
    ``_ci_high``; the mean itself with one week) and ``weeks_better_than_baseline``
    (weeks strictly above). Empty series: ``None`` values and 0 weeks.
    """
    diff = (model - baseline.reindex(model.index)).dropna()
    if not len(diff):
        keys = ("", "_ci_low", "_ci_high")
        return {f"ndcg_at_20_minus_baseline{k}": None for k in keys} | {
            "weeks_better_than_baseline": 0
        }
    mean, lo, hi = mean_ci(diff.to_numpy())
    return {
        "ndcg_at_20_minus_baseline": _round(mean),
        "ndcg_at_20_minus_baseline_ci_low": _round(lo),
        "ndcg_at_20_minus_baseline_ci_high": _round(hi),
        "weeks_better_than_baseline": int((diff > 0).sum()),
    }


def verdict(models: dict[str, dict], baseline: str, weeks: int) -> tuple[bool, str]:
    """(signal, one sentence) on the evaluated weeks: does any model beat the baseline?

    ``models``: the summary's entries (with :func:`compare`'s keys). Signal = some
    model that is not a baseline has the 95% interval of its difference above 0, over
    at least 2 weeks. The sentence names the model with the largest mean difference,
    with its interval and weeks better; without signal it starts with "No signal".
    """
    key = "ndcg_at_20_minus_baseline"
    cands = {
        m: e
        for m, e in models.items()
        if m not in BASELINES and m != ORACLE and e.get(key) is not None
    }
    base = models.get(baseline, {})
    base_txt = (
        f"`{baseline}` (NDCG@20 {_fmt(base.get('ndcg_at_20'))} "
        f"[{_fmt(base.get('ndcg_at_20_ci_low'))}, {_fmt(base.get('ndcg_at_20_ci_high'))}])"
    )
    if not cands:
        return False, f"No signal: no model was scored against the strongest baseline {base_txt}."
    best = max(sorted(cands), key=lambda m: cands[m][key])
    e = cands[best]
    diff = (
        f"{_fmt(e[key], True)} [{_fmt(e[f'{key}_ci_low'], True)}, "
        f"{_fmt(e[f'{key}_ci_high'], True)}] NDCG@20, better in "
        f"{e['weeks_better_than_baseline']}/{weeks} weeks"
    )
    lo = e.get(f"{key}_ci_low")
    signal = weeks >= 2 and lo is not None and lo > 0
    if signal:
        return True, f"`{best}` beats the strongest baseline {base_txt} by {diff}."
    return False, (
        f"No signal: no model beats the strongest baseline {base_txt}; the best, `{best}`, "
        f"differs by {diff} (the interval includes 0 or lies below it)."
    )


def summarise(ev: Evaluation, rp: RecsParams) -> dict:
    """``metrics/recs.json`` (DESIGN §6): per model mean and 95% CI across weeks.

    Models are keyed by name at the top (the ``recs.exclude_seen`` setting);
    ``diagnostics``: the means over weeks of :func:`week_diagnostics`;
    ``exclude_seen_true`` / ``exclude_seen_false`` holds the other setting.
    ``strongest_baseline``: the baseline with the best validation NDCG@20
    (:func:`strongest_baseline`); each model's ``valid_ndcg_at_20`` and its comparison
    with that baseline on the evaluated weeks (:func:`compare`). ``best_model`` is the
    best NDCG@20 of all models on the evaluated weeks (reported as it is);
    ``arm_b_model`` what the live experiment's arm B serves (:func:`choose_arm_b`) and
    ``arm_b_reason`` why; ``signal`` / ``verdict``: :func:`verdict`. No value is NaN.
    """
    vw = ev.valid_by_week

    def valid_scores(ex: bool) -> dict[str, float]:
        if not len(vw):
            return {}
        sub = vw[vw["exclude_seen"] == ex]
        return {str(m): nan_mean(g[TUNE_METRIC]) for m, g in sub.groupby("model", sort=True)}

    valid = valid_scores(rp.exclude_seen)  # the published setting decides
    baseline = strongest_baseline(valid)
    arm_b, reason = choose_arm_b(valid, baseline)
    n_weeks = int(ev.by_week["week_start"].nunique())

    def block(ex: bool) -> dict:
        sub = ev.by_week[ev.by_week["exclude_seen"] == ex]
        base = sub[sub["model"] == baseline].set_index("week_start")["ndcg_at_20"]
        valid_ex = valid_scores(ex)
        out = {}
        for name, g in sub.groupby("model", sort=True):
            entry = {}
            keys = METRIC_KEYS + ["coverage_at_10", "coverage_at_20", "novelty_at_20"]
            for key in keys:
                if key not in g or g[key].isna().all():
                    continue
                values = g[key].dropna().to_numpy()
                if key in METRIC_KEYS:  # in [0, 1]: an interval that stays in the range
                    mean, lo, hi = bounded_mean_ci(values)
                    entry[f"{key}_ci_low"] = _round(lo)
                    entry[f"{key}_ci_high"] = _round(hi)
                else:
                    mean = float(values.mean())
                entry[key] = _round(mean)
            if name != ORACLE:
                entry["valid_ndcg_at_20"] = _round(valid_ex.get(str(name)))
                if name != baseline:
                    entry.update(compare(g.set_index("week_start")["ndcg_at_20"], base))
            out[str(name)] = entry
        return out

    models = block(rp.exclude_seen)
    ranked = {m: v["ndcg_at_20"] for m, v in models.items() if v.get("ndcg_at_20") is not None}
    signal, sentence = verdict(models, baseline, n_weeks)
    listeners = ev.by_week.groupby("week_start")["listeners"].first()
    return {
        **models,
        "k": [10, 20],
        "weeks_evaluated": n_weeks,
        "weeks_left_out": [pd.Timestamp(w).strftime("%Y-%m-%d") for w in ev.empty_weeks],
        "listeners_per_week": _round(listeners.mean()) if len(listeners) else 0.0,
        "exclude_seen": rp.exclude_seen,
        "candidate_model": ev.candidate_model,
        "strongest_baseline": baseline,
        "best_model": max(sorted(ranked), key=lambda m: ranked[m]) if ranked else None,
        "arm_a_model": FALLBACK,
        "arm_b_model": arm_b,
        "arm_b_reason": reason,
        "signal": signal,
        "verdict": sentence,
        "rerank_not_fitted": [
            {
                "week_start": pd.Timestamp(r.week_start).strftime("%Y-%m-%d"),
                "split": r.split,
                "why": r.why,
            }
            for r in ev.rerank_not_fitted.itertuples()
        ],
        f"exclude_seen_{str(not rp.exclude_seen).lower()}": block(not rp.exclude_seen),
        "diagnostics": {
            key: _round(nan_mean(ev.diagnostics[key]))
            for key in ev.diagnostics.columns
            if key != "week_start"
        },
        "hyper": {m: _public(h) for m, h in sorted(ev.hyper.items())},
    }
