"""``GET /v1/experiments/{key}/results``: the experiment read from the log."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from ..deps import LiveDep, StoreDep
from ..readout import read_experiment
from ..schemas import ExperimentResults, Week

router = APIRouter(prefix="/v1", tags=["experiments"])


@router.get(
    "/experiments/{key}/results",
    response_model=ExperimentResults,
    responses={404: {"description": "Unknown experiment"}},
    summary="Per arm metrics, lift with its 95% interval, p-value, SRM check, MDE",
)
def results(
    key: str,
    live: LiveDep,
    store: StoreDep,
    week: Week = None,
):
    """Computed from the exposures and events in the store with the ``ab_test`` stage's
    outcome and statistics code (``pozytywka.experiment``); listeners served both arms
    are left out and counted."""
    if key != live.artifacts.experiment:
        raise HTTPException(status_code=404, detail=f"unknown experiment {key!r}")
    return read_experiment(store, live.artifacts, week or live.artifacts.week_start)
