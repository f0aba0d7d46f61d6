"""The service's Prometheus metrics (``GET /metrics``), on a registry owned by the app.

Each :func:`~pozytywka.serve.app.create_app` builds its own :class:`ServiceMetrics`
(never prometheus-client's global registry), so two apps in one test process
do not share counts. Names (all prefixed ``pozytywka_``):

- ``http_requests_total{method, route, status}`` and
  ``http_request_duration_seconds{method, route, status}`` (histogram, seconds):
  ``route`` is the route template (``/v1/playlists``, ``/v1/experiments/{key}/results``),
  ``<unmatched>`` for a path no route serves (no label per random URL);
- ``exposures_total{arm}``: listeners exposed (their first request of the week);
  ``playlist_requests_total{arm}``: every served ``GET /v1/playlists``;
- ``events_total{arm, event_type}``: events stored (duplicates of a retry are not counted);
- ``events_rejected_total{reason}``: bad items of rejected batches, by reason
  (``unknown_event_type``, ``unknown_request``, ``track_not_served``,
  ``before_exposure``, ``before_request``, ``in_future``, ``repeated``;
  ``invalid_payload`` counts a batch that failed schema validation);
- ``store_write_seconds{op}`` (histogram): one write of the store, from its being
  queued to its transaction's commit, so the group commit's wait is in it (a sample
  per request, not per transaction: ``serve``, ``add_events``, ``register_artifacts``);
- ``store_errors_total{op, reason}``: store failures, each a 503 (``op``: ``serve``,
  ``add_events``, ``read``, ``register``; ``probe`` for a failed ``/readyz`` check;
  ``reason``: ``StoreUnavailable.code``, e.g. ``locked``, ``full``, ``read_only``,
  ``missing``, ``unreachable``, ``timeout``);
- ``live_artifacts_info{experiment, week_start, model_a, version_a, model_b, version_b}``:
  the week and model versions being served (an info metric, value 1); swapped by
  ``POST /admin/reload``; ``reloads_total{result}``: reload attempts (``ok``/``rejected``).

Several workers: with ``PROMETHEUS_MULTIPROC_DIR`` set (an empty folder, before
the workers start), counters and histograms are written to per-process files and
``/metrics`` answers the sum over the workers with prometheus-client's
``MultiProcessCollector``; the live artifacts are then a gauge (``liveall``:
one sample per live worker, labelled ``pid``; 1 for the week served, 0 for one
replaced by a reload) since multiprocess mode has no info metric.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from .artifacts import Artifacts
from .supervisor import pid_alive

PREFIX = "pozytywka"
UNMATCHED = "<unmatched>"
#: Latency buckets (seconds): 1 ms .. 2.5 s, fine below 50 ms where the service lives.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5)
LATENCY_BUCKETS += (1.0, 2.5)
LIVE_LABELS = ("experiment", "week_start", "model_a", "version_a", "model_b", "version_b")
#: BatchRejected codes (store.py) -> the label of ``events_rejected_total``.
REJECT_REASONS = (
    "unknown_event_type",
    "unknown_request",
    "track_not_served",
    "before_exposure",
    "before_request",
    "in_future",
    "repeated",
    "invalid_payload",
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class ServiceMetrics:
    """The app's metrics and its registry; :meth:`exposition` is the ``/metrics`` body."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir() is not None
        # In multiprocess mode the values live in files; the metric objects must not be
        # registered on the scrape registry (the collector reads the files instead).
        self.registry = CollectorRegistry(auto_describe=True)
        reg = None if self.multiprocess else self.registry

        def counter(name: str, doc: str, *labels: str) -> Counter:
            return Counter(f"{PREFIX}_{name}", doc, labels, registry=reg)

        def histogram(name: str, doc: str, *labels: str) -> Histogram:
            return Histogram(f"{PREFIX}_{name}", doc, labels, registry=reg, buckets=LATENCY_BUCKETS)

        http = ("method", "route", "status")
        self.http_requests = counter("http_requests", "HTTP requests answered", *http)
        self.http_latency = histogram(
            "http_request_duration_seconds",
            "Time to answer an HTTP request (seconds, until the response is sent)",
            *http,
        )
        self.playlist_requests = counter(
            "playlist_requests", "GET /v1/playlists served, per arm", "arm"
        )
        self.exposures = counter(
            "exposures", "Listeners exposed (first request in the week), per arm", "arm"
        )
        self.events = counter("events", "Events stored, per arm and type", "arm", "event_type")
        self.events_rejected = counter(
            "events_rejected", "Bad items of rejected event batches, by reason", "reason"
        )
        self.store_write = histogram(
            "store_write_seconds", "One write transaction of the store, commit included", "op"
        )
        self.reloads = counter("reloads", "POST /admin/reload attempts", "result")
        self.store_errors = counter(
            "store_errors", "Store failures (each a 503, or a failed /readyz)", "op", "reason"
        )
        if self.multiprocess:
            self.live_gauge = Gauge(
                f"{PREFIX}_live_artifacts_info",
                "The week and model versions being served (1 per worker)",
                list(LIVE_LABELS),
                multiprocess_mode="liveall",
            )
            self.live_info = None
        else:
            self.live_gauge = None
            self.live_info = Info(
                f"{PREFIX}_live_artifacts", "The week and model versions being served",
                registry=self.registry,
            )  # fmt: skip
        self._live_labels: dict[str, str] | None = None

    # -- updates ----------------------------------------------------------------
    def set_live(self, arts: Artifacts) -> None:
        labels = live_labels(arts)
        if self.live_info is not None:
            self.live_info.info(labels)
        else:
            assert self.live_gauge is not None
            if self._live_labels is not None:  # the value files keep old samples: zero it
                self.live_gauge.labels(**self._live_labels).set(0)
            self.live_gauge.labels(**labels).set(1)
        self._live_labels = labels

    def process_exit(self) -> None:
        """In multiprocess mode: drop this worker's live samples (``liveall`` gauges)."""
        if self.multiprocess:
            mark_process_dead(os.getpid())

    def observe_http(self, method: str, route: str, status: int, seconds: float) -> None:
        s = str(status)
        self.http_requests.labels(method, route, s).inc()
        self.http_latency.labels(method, route, s).observe(seconds)

    def rejected(self, codes: Iterable[str]) -> None:
        for code in codes:
            self.events_rejected.labels(code).inc()

    # -- the scrape ---------------------------------------------------------------
    def exposition(self) -> tuple[bytes, str]:
        """``(body, content type)`` of ``GET /metrics`` (Prometheus text format 0.0.4)."""
        if self.multiprocess:
            forget_dead_workers(multiprocess_dir())
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def forget_dead_workers(folder: str | None) -> list[int]:
    """Drop the ``liveall`` gauge files of workers that died without their shutdown
    (``kill -9``, a crash; uvicorn respawns them under new pids): their
    ``live_artifacts_info`` would show a stale week forever. Their counters stay
    (prometheus_client's ``mark_process_dead`` removes only live gauges' files).
    Returns the pids forgotten."""
    if not folder:
        return []
    dead = []
    for f in Path(folder).glob("gauge_live*_*.db"):
        pid = f.stem.rsplit("_", 1)[-1]
        if pid.isdigit() and not pid_alive(int(pid)):
            mark_process_dead(int(pid), folder)
            dead.append(int(pid))
    return sorted(set(dead))


def live_labels(arts: Artifacts) -> dict[str, str]:
    a, b = arts.arms["A"], arts.arms["B"]
    return {
        "experiment": arts.experiment,
        "week_start": arts.week_start.isoformat(),
        "model_a": a.model,
        "version_a": a.model_version,
        "model_b": b.model,
        "version_b": b.model_version,
    }


#: The ASGI scope key holding the request's arrival (``time.perf_counter()``).
ARRIVED = "pozytywka.arrived"


def arrival(scope: Mapping[str, Any]) -> float | None:
    """When the request of ``scope`` (a Starlette ``request.scope``) reached the outermost
    middleware (:class:`MetricsMiddleware`), in ``time.perf_counter()`` seconds; None
    outside it. The start of the ``latency_ms`` the store logs (:mod:`.store`)."""
    return scope.get(ARRIVED)


class MetricsMiddleware:
    """Pure ASGI middleware: one ``http_requests_total`` + latency sample per HTTP request.

    The route label is the matched route's template (Starlette puts the route in
    ``scope["route"]`` when it routes), so ``/v1/playlists?user_id=x`` counts
    under ``/v1/playlists``.
    """

    def __init__(self, app, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        scope[ARRIVED] = start  # the request's arrival, for the store's latency_ms
        status = 500

        async def send_wrapper(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            self.metrics.observe_http(
                scope["method"], template, status, time.perf_counter() - start
            )
