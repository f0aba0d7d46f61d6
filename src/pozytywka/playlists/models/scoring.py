"""Model name -> per-track scores: the one place later stages call a model.

Playlists and the A/B test call ``score_week("catboost", features_week, MODELS)``
with the rows of one feature week (``features.parquet`` filtered on
``week_start``, usually ``is_prediction_week``) and get back ``track_id`` and
``score`` (predicted next-week popularity), in the input's row order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ...errors import PozytywkaError
from ...io import read_json
from .baseline import predict_baseline
from .catboost_model import load_catboost, predict_catboost

MODEL_NAMES = ("baseline", "catboost")


def score_week(
    model_name: str, features_week: pd.DataFrame, models_dir: str | os.PathLike[str]
) -> pd.DataFrame:
    """Scores of the tracks of one feature week by the saved model ``model_name``."""
    models_dir = Path(models_dir)
    if model_name == "baseline":
        path = models_dir / "baseline.json"
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run `dvc repro baseline` first")
        scores = predict_baseline(read_json(path), features_week)
    elif model_name == "catboost":
        path = models_dir / "catboost.cbm"
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run `dvc repro train` first")
        scores = predict_catboost(load_catboost(path), features_week)
    else:
        raise PozytywkaError(f"unknown model {model_name!r} (one of {', '.join(MODEL_NAMES)})")
    return pd.DataFrame(
        {
            "track_id": features_week["track_id"].to_numpy(),
            "score": np.asarray(scores, dtype=float),
        }
    )
