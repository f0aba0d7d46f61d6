"""Stage `drift`: what moved in the newest complete week against the weeks before it.

Writes ``metrics/drift.json`` (the newest week's measures, the previous weeks'
range, flags beyond the ``drift`` params) and ``reports/drift/weekly.csv`` (every
complete week's measures), for the retraining pull request.
"""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..config import Params
from ..errors import PozytywkaError
from ..io import write_csv, write_json
from ..retrain import rounded
from ..retrain.drift import compare_last_week, weekly_stats

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    for path in (paths.INTERIM_SESSIONS, paths.WEEKLY_POPULARITY, paths.INTERIM_TRACK_GENRES):
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run the earlier stages first")
    weekly = pd.read_parquet(paths.WEEKLY_POPULARITY, columns=["week_start", "track_id", "plays"])
    stats = weekly_stats(
        str(paths.INTERIM_SESSIONS), weekly, pd.read_parquet(paths.INTERIM_TRACK_GENRES)
    )
    if stats.empty:
        raise PozytywkaError("no complete week in the data: nothing to compare")
    result = compare_last_week(stats, params.drift)
    out = stats.copy()
    out["week_start"] = pd.to_datetime(out["week_start"]).dt.strftime("%Y-%m-%d")
    write_json(paths.DRIFT_METRICS, rounded(result))
    write_csv(paths.DRIFT_REPORTS / "weekly.csv", out.round(6))
    log.info(
        "week %s vs the %d before: %s",
        result["week_start"],
        result["previous_weeks"],
        ", ".join(result["flags"]) or "nothing beyond the thresholds",
    )
