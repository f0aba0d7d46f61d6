"""Time-based backtest: each evaluated week predicted by models that never saw it.

Feature week ``w`` predicts popularity in week ``w+1``. At the end of week ``w``
the targets of feature weeks ``< w`` are known, so CatBoost for ``w`` is trained
on feature weeks ``< w - valid_weeks`` and early-stopped on the ``valid_weeks``
feature weeks just before ``w``; the evaluated weeks are the last
``evaluate.eval_weeks`` labelled feature weeks. Weeks whose history or target
touches a gap in the log (``gap_in_window``, :mod:`pozytywka.gaps`) are used
neither to train nor to evaluate: a gap inside the evaluation window leaves its
weeks out, by name (:func:`backtest_weeks`). The baseline needs no training.
The same split function serves the ``train`` stage (``w`` = the prediction week).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from ..config import Params
from ..errors import PozytywkaError
from ..weeks import WEEK
from .features import (
    check_enough_weeks,
    gap_touched_weeks,
    labelled_weeks,
    model_feature_columns,
)
from .models.baseline import fit_baseline, predict_baseline
from .models.catboost_model import predict_catboost, train_catboost

PREDICTION_COLUMNS = [
    "week_start",
    "target_week",
    "track_id",
    "baseline_score",
    "catboost_score",
    "actual",
]


@dataclass(frozen=True)
class Split:
    """Feature weeks used to train and to early-stop a model that predicts ``week``."""

    week: pd.Timestamp
    train_weeks: list[pd.Timestamp]
    valid_weeks: list[pd.Timestamp]


def recent_weeks_within(
    weeks: list[pd.Timestamp], rows_per_week: pd.Series, max_rows: int, min_weeks: int
) -> list[pd.Timestamp]:
    """The most recent of ``weeks`` whose rows add up to at most ``max_rows``.

    ``weeks`` in time order; ``rows_per_week``: rows by ``week_start``. Weeks are
    taken from the newest back while the total stays within ``max_rows``, and
    never fewer than ``min_weeks`` (nor more than there are), so a small dump keeps
    all its weeks and a large one trains on its recent ones. ``max_rows`` 0: all.
    """
    if max_rows <= 0:
        return list(weeks)
    kept: list[pd.Timestamp] = []
    total = 0
    for w in reversed(weeks):
        n = int(rows_per_week.get(w, 0))
        if len(kept) >= min_weeks and total + n > max_rows:
            break
        kept.append(w)
        total += n
    return kept[::-1]


def split_before(
    features: pd.DataFrame,
    week: pd.Timestamp,
    valid_weeks: int,
    min_train_weeks: int,
    max_train_rows: int = 0,
) -> Split:
    """The labelled weeks strictly before ``week``: the last ``valid_weeks`` validate.

    The weeks before those train, the most recent first, up to ``max_train_rows``
    rows (:func:`recent_weeks_within`; 0 = every earlier week): CatBoost's cost
    grows with its rows, and on a large dump the recent weeks say the most about
    next week (a bounded training window, issue 21).
    """
    earlier = [w for w in labelled_weeks(features) if w < pd.Timestamp(week)]
    train, valid = earlier[:-valid_weeks], earlier[-valid_weeks:]
    if len(train) < min_train_weeks or len(valid) < valid_weeks:
        raise PozytywkaError(
            f"only {len(earlier)} labelled weeks before {pd.Timestamp(week).date()}: "
            f"need split.min_train_weeks ({min_train_weeks}) + split.valid_weeks ({valid_weeks})"
        )
    if max_train_rows > 0:
        rows = features["week_start"].value_counts()
        train = recent_weeks_within(train, rows, max_train_rows, min_train_weeks)
    return Split(pd.Timestamp(week), train, valid)


def rows_of(features: pd.DataFrame, weeks: list[pd.Timestamp]) -> pd.DataFrame:
    return features[features["week_start"].isin(pd.DatetimeIndex(weeks))]


def evaluation_weeks(features: pd.DataFrame, eval_weeks: int) -> list[pd.Timestamp]:
    """The last ``eval_weeks`` labelled feature weeks that touch no gap in the log."""
    return backtest_weeks(features, eval_weeks)[0]


def backtest_weeks(
    features: pd.DataFrame, eval_weeks: int
) -> tuple[list[pd.Timestamp], list[dict]]:
    """``(evaluated, left_out)`` among the last ``eval_weeks`` labelled feature weeks.

    The window is the calendar's last ``eval_weeks`` labelled weeks; a week in it
    whose history or target touches a gap in the log (:mod:`pozytywka.gaps`) is
    left out, not replaced by an earlier one, and listed as
    ``{"week_start": "YYYY-MM-DD", "reason": ...}``.
    """
    window = labelled_weeks(features, usable_only=False)[-eval_weeks:]
    touched = gap_touched_weeks(features)
    left_out = [
        {
            "week_start": w.strftime("%Y-%m-%d"),
            "reason": f"its history or target week touches a gap in the log ({touched[w]})",
        }
        for w in window
        if w in touched
    ]
    return [w for w in window if w not in touched], left_out


def sample_tracks(frame: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """The rows of a stable ``fraction`` of the tracks (by a hash of ``track_id``).

    Sampling tracks rather than rows keeps each sampled track's whole history, and
    the hash keeps the same tracks in every week and every run.
    """
    if fraction >= 1.0:
        return frame
    bucket = pd.util.hash_pandas_object(frame["track_id"], index=False).to_numpy() % 10_000
    return frame[bucket < round(fraction * 10_000)]


def run_backtest(
    features: pd.DataFrame, params: Params, progress: bool = True, train_fraction: float = 1.0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions of both models for every evaluated week, and a per-week fit log.

    ``train_fraction`` < 1 trains CatBoost on a sample of the tracks (see
    :func:`sample_tracks`): the benchmark measures what that saves and costs.

    Returns (predictions with :data:`PREDICTION_COLUMNS`, fit log with
    ``week_start``, ``first_train_week``, ``last_train_week``, ``last_valid_week``,
    ``best_iteration``,
    ``n_train_rows``) so a reader (and a test) can check that no model saw its week.
    """
    n_weeks = features["week_start"].nunique()
    check_enough_weeks(
        n_weeks, params.split.min_train_weeks, params.split.valid_weeks, params.evaluate.eval_weeks
    )
    columns = model_feature_columns(params.features.history_weeks)
    baseline = fit_baseline(params.baseline)
    predictions, log = [], []
    weeks = evaluation_weeks(features, params.evaluate.eval_weeks)
    if not weeks:
        raise PozytywkaError(
            f"every one of the last {params.evaluate.eval_weeks} labelled weeks touches a gap "
            "in the log (metrics/data_quality.json, gaps): nothing to backtest"
        )
    for week in tqdm(weeks, desc="backtest", unit="week", disable=not progress):
        split = split_before(
            features,
            week,
            params.split.valid_weeks,
            params.split.min_train_weeks,
            params.split.max_train_rows,
        )
        train = sample_tracks(rows_of(features, split.train_weeks), train_fraction)
        model = train_catboost(
            train, rows_of(features, split.valid_weeks), params.catboost, columns
        )
        target = features[features["week_start"] == week]
        predictions.append(
            pd.DataFrame(
                {
                    "week_start": target["week_start"].to_numpy(),
                    "target_week": (target["week_start"] + WEEK).to_numpy(),
                    "track_id": target["track_id"].to_numpy(),
                    "baseline_score": predict_baseline(baseline, target),
                    "catboost_score": predict_catboost(model, target),
                    "actual": target["target"].to_numpy(dtype=float),
                }
            )
        )
        log.append(
            {
                "week_start": split.week,
                "first_train_week": min(split.train_weeks),
                "last_train_week": max(split.train_weeks),
                "last_valid_week": max(split.valid_weeks),
                "best_iteration": int(model.get_best_iteration() or 0),
                "n_train_rows": len(train),
            }
        )
    out = pd.concat(predictions, ignore_index=True)[PREDICTION_COLUMNS]
    out["week_start"] = out["week_start"].astype("datetime64[us]")
    out["target_week"] = out["target_week"].astype("datetime64[us]")
    out["catboost_score"] = out["catboost_score"].astype(np.float64)
    return out.sort_values(["week_start", "track_id"]).reset_index(drop=True), pd.DataFrame(log)
