"""Stage `baseline`: save last week's chart as a model (models/baseline.json)."""

from __future__ import annotations

import pyarrow.parquet as pq

from .. import paths
from ..config import Params
from ..errors import PozytywkaError
from ..io import write_json
from ..playlists.models.baseline import fit_baseline


def run(params: Params) -> None:
    if not paths.FEATURES.exists():
        raise PozytywkaError(f"{paths.FEATURES} not found: run `dvc repro features` first")
    model = fit_baseline(params.baseline)
    # fail here, not in a later stage, when the window is longer than the lags
    have = set(pq.read_schema(paths.FEATURES).names)
    missing = [c for c in model["feature_columns"] if c not in have]
    if missing:
        raise PozytywkaError(
            f"baseline.window_weeks ({params.baseline.window_weeks}) must not exceed "
            f"features.history_weeks (the features have no {missing[0]})"
        )
    write_json(paths.BASELINE_MODEL, model)
