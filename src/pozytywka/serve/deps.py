"""FastAPI dependencies: what routes get from the app's state (filled in by the lifespan).

The getters are ``async``: FastAPI runs them in the event loop instead of a
thread-pool hop each (they only read ``app.state``). Routes never read globals:
a test builds an app on tiny artifacts and a throwaway store, and a reload that
swaps ``app.state.artifacts`` reaches the next request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from .artifacts import Artifacts
from .clock import ManualClock, WallClock
from .metrics import ServiceMetrics
from .settings import Settings
from .store import Store


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


@dataclass(frozen=True)
class Live:
    """What is being served: the artifacts and their ids in the store (swapped as one)."""

    artifacts: Artifacts
    artifact_ids: dict[str, int]
    holdout_id: int | None = None  # the holdout's artifact (arm A's, key "<key>:holdout")


async def get_live(request: Request) -> Live:
    return request.app.state.live


async def get_store(request: Request) -> Store:
    return request.app.state.store


async def get_clock(request: Request) -> WallClock | ManualClock:
    return request.app.state.clock


async def get_metrics(request: Request) -> ServiceMetrics:
    return request.app.state.metrics


SettingsDep = Annotated[Settings, Depends(get_settings)]
LiveDep = Annotated[Live, Depends(get_live)]
StoreDep = Annotated[Store, Depends(get_store)]
ClockDep = Annotated[WallClock | ManualClock, Depends(get_clock)]
MetricsDep = Annotated[ServiceMetrics, Depends(get_metrics)]
