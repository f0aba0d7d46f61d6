"""The honest baselines a skip model must beat (issue 14).

Each is a probability of a skip, so the same metrics (ROC AUC, log loss, ...)
apply; the rules' probabilities are the skip rates of their groups on the
training rows (a rule with calibrated outputs, not a 0/1 guess), so a rule is
judged on what it knows, not on a made-up confidence:

- ``genre_rule``: "skip when none of the track's genres is a favourite of the
  listener" (what the earlier student system shipped): groups = the
  ``favourite_genre_match`` feature (match / miss / unknown).
- ``previous_outcome``: "repeat the previous track's outcome in this session":
  groups = ``previous_skipped`` (skipped / full / first play of the session).
- ``listener_rate``: the listener's past skip rate (shrunk towards the global
  rate: the ``user_skip_rate`` feature), used as the probability itself.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

BASELINES = ("genre_rule", "previous_outcome", "listener_rate")
_GROUP_FEATURE = {"genre_rule": "favourite_genre_match", "previous_outcome": "previous_skipped"}
_MISSING = "missing"


def _groups(frame: pd.DataFrame, feature: str) -> pd.Series:
    """The group label of each row: ``str(int(value))``, or "missing" (vectorised)."""
    values = pd.to_numeric(frame[feature], errors="coerce").to_numpy(dtype=float)
    missing = np.isnan(values)
    labels = np.full(len(values), _MISSING, dtype=object)
    labels[~missing] = np.trunc(values[~missing]).astype(np.int64).astype(str)
    return pd.Series(labels, index=frame.index)


def fit_baselines(train: pd.DataFrame) -> dict:
    """Skip rates per group of each rule on the training rows (``skipped`` and features).

    Returns a JSON-able dict: ``{name: {"rates": {group: rate}, "default": rate}}``
    (groups "0", "1", "missing"; ``default`` = the overall rate, for a group the
    training rows never saw). ``listener_rate`` needs no fitting.
    """
    overall = float(train["skipped"].mean()) if len(train) else 0.3
    model: dict = {"listener_rate": {"feature": "user_skip_rate", "default": overall}}
    for name, feature in _GROUP_FEATURE.items():
        rates = train.groupby(_groups(train, feature))["skipped"].mean()
        model[name] = {
            "feature": feature,
            "rates": {str(k): round(float(v), 10) for k, v in sorted(rates.items())},
            "default": overall,
        }
    return model


def predict_baseline(model: dict, name: str, frame: pd.DataFrame) -> np.ndarray:
    """Probability of a skip for each row of ``frame`` under baseline ``name``."""
    spec = model[name]
    if name == "listener_rate":
        return frame[spec["feature"]].fillna(spec["default"]).to_numpy(dtype=float)
    groups = _groups(frame, spec["feature"])
    return groups.map(spec["rates"]).fillna(spec["default"]).to_numpy(dtype=float)
