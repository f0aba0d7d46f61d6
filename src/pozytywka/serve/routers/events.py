"""``POST /v1/events``: what listeners did with served tracks, in batches of up to 1,000."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from ..deps import ClockDep, MetricsDep, SettingsDep, StoreDep
from ..schemas import EventBatch, EventsAccepted, Problem
from ..store import BatchRejected
from ..store import EventIn as StoredEvent

router = APIRouter(prefix="/v1", tags=["events"])


@router.post(
    "/events",
    response_model=EventsAccepted,
    responses={422: {"model": Problem, "description": "Bad items, one line each; nothing stored"}},
    summary="Log a batch of events (all or nothing)",
)
async def post_events(
    batch: EventBatch,
    store: StoreDep,
    clock: ClockDep,
    settings: SettingsDep,
    metrics: MetricsDep,
):
    """Stored in one transaction; a 200 means committed. A bad item (unknown request,
    a track that request did not serve, a timestamp before the exposure or in the
    future) rejects the whole batch with 422."""
    items = [StoredEvent(e.request_id, e.track_id, e.event_type, e.timestamp) for e in batch.events]
    stored_by: Counter[tuple[str, str]] = Counter()
    try:
        with metrics.store_write.labels("add_events").time():
            batch_id, stored, dupes = await store.add_events_async(
                items, clock.now(), dt.timedelta(seconds=settings.clock_skew_s), stored_by
            )
    except BatchRejected as exc:
        metrics.rejected(exc.codes)
        return JSONResponse(status_code=422, content={"detail": exc.reasons})
    for (arm, event_type), n in stored_by.items():
        metrics.events.labels(arm, event_type).inc(n)
    return EventsAccepted(batch_id=batch_id, stored=stored, duplicates=dupes)
