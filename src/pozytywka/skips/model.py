"""The CatBoost skip classifier: ``Logloss`` on the features of :mod:`pozytywka.skips.features`.

Early-stopped on a validation week (``use_best_model``); fixed ``random_seed`` and
``thread_count``; saved without the random and time-stamped metadata through the
playlists' :func:`~pozytywka.playlists.models.catboost_model.save_catboost`, so
two trainings on the same data save identical bytes.

**Boosted from the strongest rule.** With ``start_from`` (default
``user_skip_rate``: the listener's own shrunk skip rate, the ``listener_rate``
baseline) each row's starting score is the logit of that rate (CatBoost's
``baseline``), so the trees learn corrections to the rule rather than the rule
itself, and early stopping on the validation week keeps only the corrections that
pay there: on a dump where nothing beats the rule, the model stays close to it. The
rule's column and its fill value for an unknown listener (the training skip rate,
as the baseline's) are kept in the model's metadata (``start_from``,
``start_default``), so :func:`predict_skip` adds the same start online and offline.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from catboost import CatBoostClassifier, Pool

from ..config import SkipsCatBoostParams
from .features import FEATURE_COLUMNS

_CLIP = 1e-4


def start_scores(frame: pd.DataFrame, column: str, default: float) -> np.ndarray:
    """Logit of ``frame[column]`` (missing -> ``default``), clipped to [1e-4, 1 - 1e-4]."""
    p = np.clip(frame[column].fillna(default).to_numpy(dtype=float), _CLIP, 1 - _CLIP)
    return np.log(p / (1 - p))


def _pool(frame: pd.DataFrame, columns: list[str], start: tuple[str, float] | None) -> Pool:
    data = frame[columns].to_numpy(dtype=np.float32, na_value=np.nan)
    label = frame["skipped"].to_numpy(dtype=int) if "skipped" in frame else None
    baseline = None if start is None else start_scores(frame, *start)
    return Pool(data, label=label, feature_names=list(columns), baseline=baseline)


def train_classifier(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    params: SkipsCatBoostParams,
    columns: list[str] | None = None,
) -> CatBoostClassifier:
    """Fit on ``train``, early-stopped on ``valid`` (rows with ``skipped`` and features),
    from ``params.start_from``'s logit when set (module docstring)."""
    columns = list(columns or FEATURE_COLUMNS)
    start = None
    if params.start_from:
        default = round(float(train["skipped"].mean()), 10) if len(train) else 0.3
        start = (params.start_from, default)
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
    model.fit(_pool(train, columns, start), eval_set=_pool(valid, columns, start))
    if start is not None:
        meta = model.get_metadata()
        meta["start_from"] = start[0]
        meta["start_default"] = repr(start[1])
    return model


def predict_skip(model: CatBoostClassifier, frame: pd.DataFrame) -> np.ndarray:
    """Probability of a skip for each row (the model's own feature order; plus the
    starting score of ``start_from`` when the model was boosted from a rule)."""
    columns = list(model.feature_names_)
    data = frame[columns].to_numpy(dtype=np.float32, na_value=np.nan)
    meta = model.get_metadata()
    if "start_from" not in meta:
        return np.asarray(model.predict_proba(data, thread_count=1)[:, 1], dtype=float)
    raw = np.asarray(model.predict(data, prediction_type="RawFormulaVal", thread_count=1))
    raw = raw + start_scores(frame, meta["start_from"], float(meta["start_default"]))
    return 1.0 / (1.0 + np.exp(-raw))
