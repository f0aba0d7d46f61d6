"""Stage `features`: weekly popularity and per-week track features with the target."""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..config import Params
from ..errors import PozytywkaError
from ..io import write_parquet
from ..playlists.features import build_features, check_enough_weeks
from ..plays import complete_week_starts, weekly_popularity

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    for path in (paths.INTERIM_SESSIONS, paths.INTERIM_TRACKS, paths.INTERIM_TRACK_GENRES):
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run `dvc repro ingest` first")
    weeks = complete_week_starts(paths.INTERIM_SESSIONS)
    check_enough_weeks(
        len(weeks),
        params.split.min_train_weeks,
        params.split.valid_weeks,
        params.evaluate.eval_weeks,
    )
    weekly = weekly_popularity(paths.INTERIM_SESSIONS)
    log.info(
        "weekly popularity: %d (week, track) rows over %d complete weeks", len(weekly), len(weeks)
    )
    features = build_features(
        weekly,
        pd.read_parquet(paths.INTERIM_TRACKS),
        pd.read_parquet(paths.INTERIM_TRACK_GENRES),
        weeks,
        params.features,
    )
    log.info(
        "features: %d rows, %d prediction-week tracks",
        len(features),
        int(features["is_prediction_week"].sum()),
    )
    write_parquet(paths.WEEKLY_POPULARITY, weekly)
    write_parquet(paths.FEATURES, features)
