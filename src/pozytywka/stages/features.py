"""Stage `features`: weekly popularity and per-week track features with the target."""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..config import Params
from ..engine import open_engine
from ..errors import PozytywkaError
from ..gaps import gap_starts, log_gaps, session_gaps
from ..io import write_parquet
from ..playlists.features import build_features, check_enough_weeks
from ..plays import complete_week_starts, weekly_listeners, weekly_popularity

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    for path in (paths.INTERIM_SESSIONS, paths.INTERIM_TRACKS, paths.INTERIM_TRACK_GENRES):
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run `dvc repro ingest` first")
    with open_engine(params) as engine:  # the SQL over the events: DuckDB or Spark
        weeks = complete_week_starts(paths.INTERIM_SESSIONS, engine)
        check_enough_weeks(
            len(weeks),
            params.split.min_train_weeks,
            params.split.valid_weeks,
            params.evaluate.eval_weeks,
        )
        counts = session_gaps(paths.INTERIM_SESSIONS, weeks, params.data.gap_min_share, engine)
        weekly = weekly_popularity(paths.INTERIM_SESSIONS, engine)
        # who played what through, per week: set reach (evaluate, hindsight) counts listeners
        listeners = weekly_listeners(paths.INTERIM_SESSIONS, engine)
    gaps = log_gaps(counts)
    log.info(
        "weekly popularity: %d (week, track) rows over %d complete weeks", len(weekly), len(weeks)
    )
    features = build_features(
        weekly,
        pd.read_parquet(paths.INTERIM_TRACKS),
        pd.read_parquet(paths.INTERIM_TRACK_GENRES),
        weeks,
        params.features,
        gap_starts(gaps),
    )
    touched = sorted(features.loc[features["gap_in_window"] != "", "week_start"].unique())
    if touched:
        log.warning(
            "%d feature weeks touch a gap (history or target) and are left out of training "
            "and the backtest: %s",
            len(touched),
            ", ".join(pd.Timestamp(w).strftime("%Y-%m-%d") for w in touched),
        )
    log.info(
        "features: %d rows, %d prediction-week tracks",
        len(features),
        int(features["is_prediction_week"].sum()),
    )
    write_parquet(paths.WEEKLY_POPULARITY, weekly)
    write_parquet(paths.WEEKLY_LISTENERS, listeners)
    write_parquet(paths.FEATURES, features)
