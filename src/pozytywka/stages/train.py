"""Stage `train`: CatBoost on all labelled weeks, early-stopped on the last ones."""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..config import Params, as_dict
from ..errors import PozytywkaError
from ..io import atomic_path, save_figure, write_csv, write_json
from ..playlists.backtest import rows_of, split_before
from ..playlists.features import model_feature_columns
from ..playlists.models.catboost_model import (
    feature_importance,
    learning_curve,
    loss_meaning,
    save_catboost,
    train_catboost,
)
from ..plotting import MODEL_COLOURS, new_figure

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    if not paths.FEATURES.exists():
        raise PozytywkaError(f"{paths.FEATURES} not found: run `dvc repro features` first")
    features = pd.read_parquet(paths.FEATURES)
    columns = model_feature_columns(params.features.history_weeks)
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise PozytywkaError(f"{paths.FEATURES} has no column {missing[0]}: rerun `features`")
    prediction_week = features.loc[features["is_prediction_week"], "week_start"].max()
    split = split_before(
        features,
        prediction_week,
        params.split.valid_weeks,
        params.split.min_train_weeks,
        params.split.max_train_rows,
    )
    train, valid = rows_of(features, split.train_weeks), rows_of(features, split.valid_weeks)
    log.info(
        "training on %d rows (%d weeks), early stopping on %d rows (%d weeks)",
        len(train),
        len(split.train_weeks),
        len(valid),
        len(split.valid_weeks),
    )
    model = train_catboost(train, valid, params.catboost, columns)
    curve = learning_curve(model)
    best = int(model.get_best_iteration() or 0)
    importance = feature_importance(model)

    with atomic_path(paths.CATBOOST_MODEL) as tmp:
        save_catboost(model, tmp)
    write_json(
        paths.CATBOOST_META,
        {
            "model": "catboost",
            "feature_columns": columns,
            "best_iteration": best,
            "tree_count": int(model.tree_count_),
            "params": as_dict(params.catboost),
            "train_weeks": [str(w.date()) for w in split.train_weeks],
            "valid_weeks": [str(w.date()) for w in split.valid_weeks],
        },
    )
    write_json(
        paths.TRAIN_METRICS,
        {
            "loss_function": params.catboost.loss_function,
            "best_iteration": best,
            "validation_loss": round(float(curve["validation"].iloc[best]), 6),
            "learn_loss": round(float(curve["learn"].iloc[best]), 6),
            "n_train_rows": len(train),
            "n_valid_rows": len(valid),
            "n_train_weeks": len(split.train_weeks),
            "n_features": len(columns),
        },
    )
    paths.TRAIN_REPORTS.mkdir(parents=True, exist_ok=True)
    write_csv(paths.TRAIN_REPORTS / "feature_importance.csv", importance.round(6))
    write_csv(paths.TRAIN_REPORTS / "learning_curve.csv", curve.round(6))
    _plot_importance(importance)
    _plot_curve(curve, best, params.catboost.loss_function)
    log.info(
        "best iteration %d, validation loss %.4f (%s)",
        best,
        curve["validation"].iloc[best],
        loss_meaning(params.catboost.loss_function),
    )


def _plot_importance(importance: pd.DataFrame, top: int = 25) -> None:
    head = importance.head(top).iloc[::-1]
    fig, ax = new_figure(7.0, max(3.0, 0.25 * len(head) + 1.0))
    ax.barh(head["feature"], head["importance"], color=MODEL_COLOURS["catboost"])
    ax.set_xlabel(
        f"importance, % of the total (all {len(importance)} features sum to 100)\n"
        "CatBoost's PredictionValuesChange"
    )
    ax.set_title(f"CatBoost feature importance (top {len(head)} of {len(importance)})")
    fig.tight_layout()
    save_figure(paths.TRAIN_REPORTS / "feature_importance.png", fig)


def _plot_curve(curve: pd.DataFrame, best: int, loss: str) -> None:
    fig, ax = new_figure()
    ax.plot(curve["iteration"], curve["learn"], label="learn", color=MODEL_COLOURS["baseline"])
    ax.plot(
        curve["iteration"], curve["validation"], label="validation", color=MODEL_COLOURS["catboost"]
    )
    ax.axvline(best, linestyle="--", color="black", linewidth=0.8, label=f"best ({best})")
    ax.set_xlabel("boosting iteration (trees)")
    name = loss.split(":")[0]
    ax.set_ylabel(
        "RMSE of log1p(popularity)" if name == "RMSE" else f"{name} loss (lower is better)"
    )
    if name == "Poisson":
        fig.suptitle("CatBoost learning curve")
        ax.set_title(
            "Poisson loss = mean of exp(a) - a*y, a = log of the predicted count: the negative "
            "log-likelihood\nwithout its log(y!) term (the same for every model), so it can be "
            "negative",
            fontsize=8,
            color="#555555",
        )
    else:
        ax.set_title("CatBoost learning curve")
    ax.legend(loc="upper center")  # the curves fall from the top left, best is at the right
    fig.tight_layout()
    save_figure(paths.TRAIN_REPORTS / "learning_curve.png", fig)
