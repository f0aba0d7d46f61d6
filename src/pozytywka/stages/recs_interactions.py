"""Stage `recs_interactions`: implicit feedback per (week, listener, track) from the sessions."""

from __future__ import annotations

import logging

from .. import paths
from ..config import Params
from ..engine import open_engine
from ..errors import PozytywkaError
from ..io import write_parquet
from ..recs.interactions import weekly_interactions

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    if not paths.INTERIM_SESSIONS.exists():
        raise PozytywkaError(f"{paths.INTERIM_SESSIONS} not found: run `dvc repro ingest` first")
    with open_engine(params) as engine:  # DuckDB or Spark, the same rows
        out = weekly_interactions(paths.INTERIM_SESSIONS, engine)
    log.info(
        "interactions: %d (week, listener, track) rows, %d listeners, %d tracks, %d weeks",
        len(out),
        out["user_id"].nunique(),
        out["track_id"].nunique(),
        out["week_start"].nunique(),
    )
    write_parquet(paths.RECS_INTERACTIONS, out)
