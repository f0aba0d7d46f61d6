"""The CatBoost skip classifier: ``Logloss`` on the features of :mod:`pozytywka.skips.features`.

Early-stopped on a validation week (``use_best_model``); fixed ``random_seed`` and
``thread_count``; saved without the random and time-stamped metadata through the
playlists' :func:`~pozytywka.playlists.models.catboost_model.save_catboost`, so
two trainings on the same data save identical bytes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, Pool

from ..config import SkipsCatBoostParams
from .features import FEATURE_COLUMNS


def _pool(frame: pd.DataFrame, columns: list[str]) -> Pool:
    data = frame[columns].to_numpy(dtype=np.float32, na_value=np.nan)
    label = frame["skipped"].to_numpy(dtype=int) if "skipped" in frame else None
    return Pool(data, label=label, feature_names=list(columns))


def train_classifier(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    params: SkipsCatBoostParams,
    columns: list[str] | None = None,
) -> CatBoostClassifier:
    """Fit on ``train``, early-stopped on ``valid`` (rows with ``skipped`` and features)."""
    columns = list(columns or FEATURE_COLUMNS)
    model = CatBoostClassifier(
        loss_function="Logloss",
        iterations=params.iterations,
        depth=params.depth,
        learning_rate=params.learning_rate,
        l2_leaf_reg=params.l2_leaf_reg,
        border_count=params.border_count,
        od_type="Iter",
        od_wait=params.early_stopping_rounds,
        use_best_model=True,
        thread_count=params.thread_count,
        random_seed=params.random_seed,
        allow_writing_files=False,
        verbose=False,
    )
    model.fit(_pool(train, columns), eval_set=_pool(valid, columns))
    return model


def predict_skip(model: CatBoostClassifier, frame: pd.DataFrame) -> np.ndarray:
    """Probability of a skip for each row (the model's own feature order)."""
    columns = list(model.feature_names_)
    data = frame[columns].to_numpy(dtype=np.float32, na_value=np.nan)
    return np.asarray(model.predict_proba(data, thread_count=1)[:, 1], dtype=float)
