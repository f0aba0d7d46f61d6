"""Stage `recs_publish`: next week's lists for every listener (arms A and B) + a sample."""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..config import Params
from ..errors import PozytywkaError
from ..io import read_json, write_parquet, write_text
from ..recs.evaluate import RERANK
from ..recs.publish import publish, sample_markdown
from ._recs_inputs import read_inputs

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    for path in (paths.RECS_TUNED, paths.RECS_RANKER):
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run `dvc repro recs_evaluate` first")
    interactions, cat, features = read_inputs()
    tuned = read_json(paths.RECS_TUNED)
    ranker = None
    if tuned["arm_b_model"] == RERANK and tuned.get("ranker_fitted", True):
        from ..playlists.models.catboost_model import load_catboost

        ranker = load_catboost(paths.RECS_RANKER)
    published, fallback = publish(interactions, cat, features, params.recs, tuned, ranker)
    write_parquet(paths.RECS_PUBLISHED, published)
    write_parquet(paths.RECS_FALLBACK, fallback)
    md = sample_markdown(
        published, pd.read_parquet(paths.INTERIM_TRACKS), pd.read_parquet(paths.INTERIM_ARTISTS)
    )
    write_text(paths.RECS_REPORTS / "sample.md", md)
    log.info(
        "published week %s: %d listeners x %d tracks, arms A (%s) and B (%s)",
        published["week_start"].iloc[0],
        published["user_id"].nunique(),
        params.recs.k,
        published[published["arm"] == "A"]["model"].iloc[0],
        published[published["arm"] == "B"]["model"].iloc[0],
    )
