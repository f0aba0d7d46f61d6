"""``GET /metrics``: the app's Prometheus metrics (text format; see :mod:`..metrics`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ..deps import MetricsDep

router = APIRouter(tags=["monitoring"])


@router.get(
    "/metrics",
    response_class=Response,
    summary="Prometheus metrics: requests, latency, exposures, events, store writes, live week",
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(metrics: MetricsDep) -> Response:
    body, content_type = metrics.exposition()
    return Response(content=body, media_type=content_type)
