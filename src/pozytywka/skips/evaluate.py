"""Evaluation by time (issue 14, item 5): rolling weeks, never random rows.

Each of the last ``eval_weeks`` complete weeks ``w`` is predicted by models fitted
only on earlier plays: CatBoost is trained on the ``train_weeks`` weeks before
the ``valid_weeks`` weeks that precede ``w``, and early-stopped on those
validation weeks; the rule baselines are fitted on the same training weeks.
Only plays whose outcome was known before Monday of ``w`` are used to fit
(``known_at``), the same cut the history features use.

Per week and model: ROC AUC, PR AUC (average precision), log loss, Brier score
and accuracy at the threshold that maximised accuracy on the validation weeks
(scikit-learn's metrics). Weeks are the independent replications: the headline is
the mean with a 95% interval across weeks. ROC AUC, PR AUC, Brier score and
accuracy live in [0, 1]: their interval is the logit-t interval of
:func:`pozytywka.playlists.metrics.bounded_mean_ci` (as the playlist backtest's;
it cannot leave the range; ``None`` with fewer than 2 weeks); log loss is
unbounded and keeps the plain Student-t :func:`~pozytywka.playlists.metrics.mean_ci`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from tqdm import tqdm

from ..config import SkipsParams
from ..errors import PozytywkaError
from ..playlists.metrics import bounded_mean_ci, mean_ci
from .baselines import BASELINES, fit_baselines, predict_baseline
from .model import predict_skip, train_classifier

MODELS = (*BASELINES, "catboost")
METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy")
#: Lower is better for these; higher for the others.
LOWER_IS_BETTER = ("log_loss", "brier")
#: Metrics bounded to [0, 1]: their interval across weeks stays in the range.
BOUNDED_METRICS = ("roc_auc", "pr_auc", "brier", "accuracy")
THRESHOLD_GRID = np.round(np.linspace(0.0, 1.0, 201), 4)
_EPS = 1e-6


@dataclass(frozen=True)
class WeekSplit:
    """The weeks a model for ``week`` is trained and early-stopped on (all before ``week``)."""

    week: pd.Timestamp
    train: list[pd.Timestamp]
    valid: list[pd.Timestamp]


def week_splits(
    weeks: list[pd.Timestamp], n_eval: int, n_train: int, n_valid: int
) -> list[WeekSplit]:
    """Splits for each of the last ``n_eval`` of ``weeks`` (sorted, consecutive complete weeks).

    Raises :class:`PozytywkaError` naming the params when the data hold too few weeks.
    """
    weeks = sorted(pd.Timestamp(w) for w in weeks)
    need = n_eval + n_valid + n_train
    if len(weeks) < need:
        raise PozytywkaError(
            f"skips: {len(weeks)} complete weeks, need skips.eval_weeks ({n_eval}) + "
            f"skips.valid_weeks ({n_valid}) + skips.train_weeks ({n_train}) = {need}"
        )
    out = []
    for i in range(len(weeks) - n_eval, len(weeks)):
        valid = weeks[i - n_valid : i]
        train = weeks[i - n_valid - n_train : i - n_valid]
        out.append(WeekSplit(weeks[i], train, valid))
    return out


def fitting_rows(table: pd.DataFrame, weeks: list[pd.Timestamp], before: pd.Timestamp):
    """Rows of ``weeks`` whose outcome was known before ``before`` (the predicted week's Monday)."""
    mask = table["week_start"].isin(pd.DatetimeIndex(weeks)) & (table["known_at"] < before)
    return table[mask]


def predict_all(baselines: dict, model, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every model's skip probability for the rows of ``frame``."""
    out = {name: predict_baseline(baselines, name, frame) for name in BASELINES}
    out["catboost"] = predict_skip(model, frame)
    return out


def run_backtest(
    table: pd.DataFrame, params: SkipsParams, progress: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions for the evaluated weeks (and their validation weeks) and a fit log.

    ``table``: :func:`pozytywka.skips.features.build_features` output. Returns
    (predictions: ``eval_week``, ``role`` ("eval"/"valid"), ``play_id``,
    ``week_start``, ``skipped``, ``p_<model>`` per :data:`MODELS`; fit log:
    ``week_start``, ``last_train_week``, ``last_valid_week``, ``best_iteration``,
    ``n_train_rows``).
    """
    weeks = sorted(table["week_start"].unique())
    splits = week_splits(
        [pd.Timestamp(w) for w in weeks], params.eval_weeks, params.train_weeks, params.valid_weeks
    )
    parts, log = [], []
    for split in tqdm(splits, desc="skips backtest", unit="week", disable=not progress):
        train = fitting_rows(table, split.train, split.week)
        valid = fitting_rows(table, split.valid, split.week)
        if train.empty or valid.empty or train["skipped"].nunique() < 2:
            raise PozytywkaError(
                f"skips: no plays of both outcomes to fit the model for {split.week.date()}"
            )
        baselines = fit_baselines(train)
        model = train_classifier(train, valid, params.catboost)
        for role, rows in (("eval", table[table["week_start"] == split.week]), ("valid", valid)):
            probs = predict_all(baselines, model, rows)
            part = pd.DataFrame(
                {
                    "eval_week": split.week,
                    "role": role,
                    "play_id": rows["play_id"].to_numpy(),
                    "week_start": rows["week_start"].to_numpy(),
                    "skipped": rows["skipped"].to_numpy(dtype="int8"),
                }
            )
            for name, p in probs.items():
                part[f"p_{name}"] = p
            parts.append(part)
        log.append(
            {
                "week_start": split.week,
                "last_train_week": max(split.train),
                "last_valid_week": max(split.valid),
                "best_iteration": int(model.get_best_iteration() or 0),
                "n_train_rows": len(train),
            }
        )
    predictions = pd.concat(parts, ignore_index=True)
    predictions["eval_week"] = predictions["eval_week"].astype("datetime64[us]")
    predictions["week_start"] = predictions["week_start"].astype("datetime64[us]")
    return predictions, pd.DataFrame(log)


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold (predict a skip when p >= it) of highest accuracy; ties: the lowest."""
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    grid = np.unique(np.concatenate([THRESHOLD_GRID, np.unique(p)]))
    if len(grid) > 1000:
        grid = np.unique(np.concatenate([THRESHOLD_GRID, np.quantile(p, np.linspace(0, 1, 801))]))
    order = np.argsort(p)
    sp, sy = p[order], y[order]
    # rows with p >= t are predicted skips: count them with a search over the sorted p
    below = np.searchsorted(sp, grid, side="left")
    skips_below = np.concatenate([[0], np.cumsum(sy)])[below]
    correct = (below - skips_below) + (sy.sum() - skips_below)
    return float(grid[int(np.argmax(correct))])


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """The five metrics of one model on one week (``y`` 0/1, ``p`` skip probabilities)."""
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    two = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if two else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if two else float("nan"),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "accuracy": float(((p >= threshold).astype(int) == y).mean()),
    }


def weekly_metrics(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per evaluated week: ``n_plays``, ``skip_rate``, then ``<model>_<metric>`` and
    ``<model>_threshold`` (chosen on that week's validation rows)."""
    rows = []
    for week, group in predictions.groupby("eval_week", sort=True):
        ev = group[group["role"] == "eval"]
        va = group[group["role"] == "valid"]
        row: dict = {
            "week_start": week,
            "n_plays": len(ev),
            "skip_rate": float(ev["skipped"].mean()),
        }
        for model in MODELS:
            thr = best_threshold(va["skipped"].to_numpy(), va[f"p_{model}"].to_numpy())
            row[f"{model}_threshold"] = thr
            for name, value in binary_metrics(
                ev["skipped"].to_numpy(), ev[f"p_{model}"].to_numpy(), thr
            ).items():
                row[f"{model}_{name}"] = value
        rows.append(row)
    return pd.DataFrame(rows)


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 6)


def metric_ci(metric: str, values: np.ndarray) -> tuple[float, float | None, float | None]:
    """Mean across weeks and its 95% interval: logit-t for :data:`BOUNDED_METRICS`
    (:func:`~pozytywka.playlists.metrics.bounded_mean_ci`), Student-t otherwise."""
    values = np.asarray(values, dtype=float)
    if metric in BOUNDED_METRICS and not np.isnan(values).any():
        return bounded_mean_ci(values)
    return mean_ci(values)


def summarise(weekly: pd.DataFrame) -> dict:
    """``metrics/skips.json`` (DESIGN §6): per model each metric with ``_ci_low``/``_ci_high``
    (:func:`metric_ci`; ``None`` for a bounded metric over fewer than 2 weeks).

    Also ``weeks_evaluated``, ``plays_evaluated``, ``skip_rate`` and, per baseline,
    ``catboost_better_weeks`` = weeks CatBoost beat it on ROC AUC *and* log loss.
    """
    out: dict = {
        "weeks_evaluated": len(weekly),
        "plays_evaluated": int(weekly["n_plays"].sum()),
        "skip_rate": _r((weekly["skip_rate"] * weekly["n_plays"]).sum() / weekly["n_plays"].sum()),
    }
    for model in MODELS:
        section = {"threshold": _r(weekly[f"{model}_threshold"].mean())}
        for metric in METRICS:
            mean, low, high = metric_ci(metric, weekly[f"{model}_{metric}"].to_numpy())
            section[metric] = _r(mean)
            section[f"{metric}_ci_low"] = _r(low)
            section[f"{metric}_ci_high"] = _r(high)
        out[model] = section
    better = {}
    for base in BASELINES:
        wins = (weekly["catboost_roc_auc"] > weekly[f"{base}_roc_auc"]) & (
            weekly["catboost_log_loss"] < weekly[f"{base}_log_loss"]
        )
        better[base] = int(wins.sum())
    out["catboost_better_weeks"] = better
    return out


def calibration_table(predictions: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Reliability per model over the evaluated rows: equal-width bins of predicted probability.

    Columns ``model``, ``bin``, ``predicted`` (mean p), ``observed`` (skip rate), ``plays``.
    """
    ev = predictions[predictions["role"] == "eval"]
    frames = []
    for model in MODELS:
        p = ev[f"p_{model}"].to_numpy()
        b = np.minimum((p * bins).astype(int), bins - 1)
        frame = (
            pd.DataFrame({"bin": b, "p": p, "y": ev["skipped"].to_numpy()})
            .groupby("bin")
            .agg(predicted=("p", "mean"), observed=("y", "mean"), plays=("y", "size"))
            .reset_index()
        )
        frame.insert(0, "model", model)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
