"""Stage ``skips_features``: one row per play, its outcome and the features known at its start.

Reads the interim sessions, tracks, track genres and users; writes
``data/processed/skips/plays.parquet`` (the plays of the last ``skips.train_weeks`` +
``valid_weeks`` + ``eval_weeks`` complete weeks, all the models fit and score; the
history behind their features covers every week:
:data:`pozytywka.skips.target.TARGET_COLUMNS` + :data:`pozytywka.skips.features.FEATURE_COLUMNS`)
and the cumulative history tables under ``data/processed/skips/history/`` (what
the online scorer reads).
"""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..config import Params
from ..engine import open_engine
from ..errors import PozytywkaError
from ..io import write_parquet
from ..plays import complete_week_starts
from ..skips.evaluate import week_splits
from ..skips.features import build_features
from ..skips.target import play_targets

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    inputs = (
        paths.INTERIM_SESSIONS,
        paths.INTERIM_TRACKS,
        paths.INTERIM_TRACK_GENRES,
        paths.INTERIM_USERS,
    )
    for path in inputs:
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run `dvc repro ingest` first")
    sk = params.skips
    with open_engine(params) as engine:  # the per-play outcomes: DuckDB or Spark
        weeks = complete_week_starts(paths.INTERIM_SESSIONS, engine)
        week_splits(weeks, sk.eval_weeks, sk.train_weeks, sk.valid_weeks)  # enough weeks?
        targets = play_targets(paths.INTERIM_SESSIONS, engine=engine)
    # the models fit and score only the last train + valid + eval weeks: featurise those
    used = weeks[-(sk.train_weeks + sk.valid_weeks + sk.eval_weeks) :]
    sessions = pd.read_parquet(
        paths.INTERIM_SESSIONS,
        columns=["session_id", "timestamp", "user_id", "track_id", "event_type", "row_number"],
    )
    table, history = build_features(
        targets,
        sessions,
        pd.read_parquet(paths.INTERIM_TRACKS),
        pd.read_parquet(paths.INTERIM_TRACK_GENRES),
        pd.read_parquet(paths.INTERIM_USERS),
        sk.prior_plays,
        used,
    )
    log.info(
        "skips: %d plays of the last %d of %d complete weeks, skip rate %.3f",
        len(table),
        len(used),
        len(weeks),
        float(table["skipped"].mean()),
    )
    write_parquet(paths.SKIPS_TABLE, table.reset_index(drop=True))
    for name, frame in history.items():
        write_parquet(paths.SKIPS_HISTORY / f"{name}.parquet", frame)
