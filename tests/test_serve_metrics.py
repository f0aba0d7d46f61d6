"""``GET /metrics`` of the real server on loopback, parsed with prometheus-client's own parser.

The test scrapes once, makes a known set of requests (three playlist requests by
two listeners, a good batch of two events, a batch with an unknown request, a
batch failing validation, a path no route serves), scrapes again, and checks
that each count moved by exactly what those requests should have moved it.
"""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pozytywka.config import ABParams
from pozytywka.experiment.assign import ab_arm
from pozytywka.serve.app import create_app
from pozytywka.serve.metrics import ServiceMetrics
from pozytywka.serve.process import ServiceProcess
from serve_support import VERSIONS, WEEK, write_tiny_root

pytestmark = pytest.mark.timeout(300)

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    r = httpx.get(url + "/metrics", timeout=30)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    out: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("metrics")
    root = write_tiny_root(tmp / "root")
    env = {"POZYTYWKA_STORE": f"sqlite:///{tmp / 'log.sqlite'}", "POZYTYWKA_CLOCK": "manual"}
    with ServiceProcess(root, env) as svc:
        yield svc


def test_metrics_count_what_the_requests_did(service):
    url = service.url
    before = scrape(url)
    arms = {u: ab_arm(u, ABParams()) for u in ("m1", "m2")}
    assert "H" not in arms.values()  # in the experiment, not the global holdout
    with httpx.Client(base_url=url, timeout=30) as c:
        served = [c.get("/v1/playlists", params={"user_id": u}).json() for u in ("m1", "m2", "m1")]
        first = served[0]
        track = first["playlists"][0]["tracks"][0]["track_id"]
        ev = {"request_id": first["request_id"], "track_id": track, "timestamp": WEEK}
        good = [{**ev, "event_type": "play"}, {**ev, "event_type": "like"}]
        assert c.post("/v1/events", json={"events": good}).status_code == 200
        unknown = [{**ev, "request_id": "f" * 32, "event_type": "skip"}]
        assert c.post("/v1/events", json={"events": unknown}).status_code == 422
        assert c.post("/v1/events", json={"events": [{"track_id": "x"}]}).status_code == 422
        assert c.get("/no/such/page").status_code == 404
    after = scrape(url)

    req = "pozytywka_http_requests_total"
    assert delta(before, after, req, method="GET", route="/v1/playlists", status="200") == 3
    assert delta(before, after, req, method="POST", route="/v1/events", status="200") == 1
    assert delta(before, after, req, method="POST", route="/v1/events", status="422") == 2
    assert delta(before, after, req, method="GET", route="<unmatched>", status="404") == 1
    hist = "pozytywka_http_request_duration_seconds"
    labels = dict(method="GET", route="/v1/playlists", status="200")
    assert delta(before, after, hist + "_count", **labels) == 3
    assert delta(before, after, hist + "_bucket", **labels, le="+Inf") == 3
    assert delta(before, after, hist + "_sum", **labels) > 0

    for arm in "AB":
        n_users = sum(a == arm for a in arms.values())
        n_requests = sum(arms[s["user_id"]] == arm for s in served)
        assert delta(before, after, "pozytywka_exposures_total", arm=arm) == n_users
        assert delta(before, after, "pozytywka_playlist_requests_total", arm=arm) == n_requests
    arm = first["arm"]
    for kind in ("play", "like"):
        assert delta(before, after, "pozytywka_events_total", arm=arm, event_type=kind) == 1
    assert delta(before, after, "pozytywka_events_rejected_total", reason="unknown_request") == 1
    assert delta(before, after, "pozytywka_events_rejected_total", reason="invalid_payload") == 1
    store = "pozytywka_store_write_seconds_count"
    assert delta(before, after, store, op="serve") == 3
    assert delta(before, after, store, op="add_events") == 2  # the good and the rejected batch

    info = [k for k in after if k[0] == "pozytywka_live_artifacts_info"]
    assert len(info) == 1 and after[info[0]] == 1
    assert dict(info[0][1]) == {
        "experiment": "playlists",
        "week_start": WEEK,
        "model_a": "baseline",
        "version_a": VERSIONS["baseline"],
        "model_b": "catboost",
        "version_b": VERSIONS["catboost"],
    }


def test_each_app_owns_its_registry():
    """Two apps in one process: no clash on the global registry, separate counts."""
    from prometheus_client import REGISTRY

    a, b = create_app(), create_app()
    ma, mb = a.state.metrics, b.state.metrics
    assert isinstance(ma, ServiceMetrics) and ma.registry is not mb.registry
    ma.playlist_requests.labels("A").inc()
    assert ma.registry.get_sample_value("pozytywka_playlist_requests_total", {"arm": "A"}) == 1
    assert mb.registry.get_sample_value("pozytywka_playlist_requests_total", {"arm": "A"}) is None
    assert REGISTRY.get_sample_value("pozytywka_playlist_requests_total", {"arm": "A"}) is None


def test_two_workers_report_one_sum(tmp_path):
    """``--workers 2`` with PROMETHEUS_MULTIPROC_DIR: every scrape, whichever worker answers
    it, counts all the requests both workers served; each worker reports the live week."""
    root = write_tiny_root(tmp_path / "root")
    prom = tmp_path / "prom"
    prom.mkdir()
    env = {
        "POZYTYWKA_STORE": f"sqlite:///{tmp_path / 'log.sqlite'}",
        "PROMETHEUS_MULTIPROC_DIR": str(prom),
    }
    with ServiceProcess(root, env, args=("--workers", "2")) as svc:
        for i in range(40):  # a new connection each: the kernel spreads them over the workers
            assert httpx.get(svc.url + "/v1/playlists", params={"user_id": f"w{i}"}).is_success
        scrapes = [scrape(svc.url) for _ in range(6)]
    key = ("pozytywka_http_requests_total",
           (("method", "GET"), ("route", "/v1/playlists"), ("status", "200")))  # fmt: skip
    assert [s[key] for s in scrapes] == [40.0] * 6
    assert all(sum(v for (n, _), v in s.items() if n == "pozytywka_exposures_total") == 40
               for s in scrapes)  # fmt: skip
    live = [k for k, v in scrapes[-1].items() if k[0] == "pozytywka_live_artifacts_info" and v]
    assert len({dict(labels)["pid"] for _, labels in live}) == 2
    assert {dict(labels)["week_start"] for _, labels in live} == {WEEK}
