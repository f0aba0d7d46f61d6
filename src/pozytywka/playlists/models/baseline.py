"""The baseline (DESIGN §4): next week's chart is last week's chart.

Its prediction for a track is its popularity summed over the last
``baseline.window_weeks`` weeks (``pop_lag_0`` .. ``pop_lag_{n-1}``; lags before
the log started count as 0). With the default ``window_weeks: 1`` this is
exactly "the tracks most popular last week". Nothing is learned, but the model
is still saved, so that playlists and the A/B test load both models the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ...config import BaselineParams
from ...errors import PozytywkaError


def fit_baseline(params: BaselineParams) -> dict:
    """The baseline model as a JSON-able dict (its only parameter is the window)."""
    return {
        "model": "baseline",
        "window_weeks": params.window_weeks,
        "feature_columns": [f"pop_lag_{i}" for i in range(params.window_weeks)],
    }


def predict_baseline(model: dict, features: pd.DataFrame) -> np.ndarray:
    """Predicted next-week popularity: the sum of the last ``window_weeks`` lags."""
    columns = model["feature_columns"]
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise PozytywkaError(
            f"baseline.window_weeks ({model['window_weeks']}) must not exceed "
            f"features.history_weeks (the features have no {missing[0]})"
        )
    values = features[columns].to_numpy(dtype=float, na_value=np.nan)
    return np.nansum(values, axis=1)
