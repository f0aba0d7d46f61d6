"""The inputs the recs stages share: interactions, catalogue and the playlist features."""

from __future__ import annotations

import pandas as pd

from .. import paths
from ..errors import PozytywkaError
from ..recs.interactions import Catalogue, catalogue
from ..recs.rerank import TRACK_FEATURES

INPUTS = (
    paths.RECS_INTERACTIONS,
    paths.INTERIM_USERS,
    paths.INTERIM_TRACKS,
    paths.INTERIM_TRACK_GENRES,
    paths.FEATURES,
)


def read_inputs() -> tuple[pd.DataFrame, Catalogue, pd.DataFrame]:
    """(interactions, catalogue, playlist features); a missing file names the stage to run."""
    for path in INPUTS:
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run the earlier stages (`dvc repro`) first")
    interactions = pd.read_parquet(paths.RECS_INTERACTIONS)
    cat = catalogue(
        interactions,
        pd.read_parquet(paths.INTERIM_USERS),
        pd.read_parquet(paths.INTERIM_TRACKS),
        pd.read_parquet(paths.INTERIM_TRACK_GENRES),
    )
    features = pd.read_parquet(paths.FEATURES, columns=["week_start", "track_id", *TRACK_FEATURES])
    return interactions, cat, features
