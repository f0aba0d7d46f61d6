"""The service under load (``make bench-serve``): wrk drives a real server from a second process.

For each store (the embedded SQLite, then a throwaway PostgreSQL server), one
``pozytywka serve`` process (uvicorn, one worker unless asked for more, the wall clock) serves the
project's published week on loopback, and Debian's ``wrk`` (a C load generator,
its own process) drives one endpoint at a time at each concurrency level for a
fixed time:

- ``GET /healthz``: the floor, the same server doing nothing;
- ``GET /v1/playlists``: a listener id per request (``b<thread>-<n>``, 5,000 per
  thread, so new and returning listeners), each a committed request row (and an
  exposure the first time);
- ``POST /v1/events``: one ``play`` per batch, on a request served before the run
  (64 of them), with a timestamp unique in the run (so every 2xx stores a row).

Per run: requests/s, latency p50/p95/p99 (wrk's, ms), errors (socket errors and
non-2xx answers), and log completeness = rows the run added to the store / 2xx
answers the server sent (``requests`` rows for the playlists, ``events`` rows for
the events; 1.000 means no acknowledged write was lost or doubled). The 2xx
count is the server's own (``pozytywka_http_requests_total`` on ``/metrics``):
wrk counts only the answers it read before its time was up, not the ones in
flight when it stopped, which the server still committed and answered. Each endpoint's
throughput is also given as a ratio to ``/healthz`` at the same level in the
same run. The load average is recorded before and after: other work on the
machine moves these numbers.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ..errors import PozytywkaError
from ..serve.process import ServiceProcess
from ..serve.settings import Settings
from ..serve.store import Store

ENDPOINTS = ("healthz", "playlists", "events")
LEVELS = (1, 8, 32)
N_SERVED = 64
logging.getLogger("httpx").setLevel(logging.WARNING)

_LUA = """
local kind = "%(kind)s"
local base = "%(base)s"
local served = {%(served)s}
local counter, tid = 0, 0
local threads = {}
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
function init(args)
  tid = tonumber(wrk.thread:get("tid")) or 0
end
function request()
  counter = counter + 1
  if kind == "playlists" then
    return wrk.format("GET", "/v1/playlists?user_id=b" .. tid .. "-" .. (counter %% 5000))
  elseif kind == "events" then
    local s = served[(counter %% #served) + 1]
    local ts = string.format("%%s.%%06d", base, tid * 100000 + counter)
    local body = '{"events":[{"request_id":"' .. s[1] .. '","track_id":"' .. s[2]
      .. '","event_type":"play","timestamp":"' .. ts .. '"}]}'
    return wrk.format("POST", "/v1/events", {["Content-Type"] = "application/json"}, body)
  end
  return wrk.format("GET", "/healthz")
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50_us":%%d,"p95_us":%%d,"p99_us":%%d}\\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
"""


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise PozytywkaError("wrk not found: apt-get install -y wrk (make bench-serve does)")
    return found


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _served(url: str) -> list[tuple[str, str]]:
    """``N_SERVED`` playlist requests made before the events runs: (request_id, a track)."""
    out = []
    with httpx.Client(base_url=url, timeout=30) as c:
        for i in range(N_SERVED):
            doc = c.get("/v1/playlists", params={"user_id": f"ev-{i}"}).raise_for_status().json()
            out.append((doc["request_id"], doc["playlists"][0]["tracks"][0]["track_id"]))
    return out


def run_wrk(url: str, kind: str, clients: int, seconds: float, script: Path, **lua) -> dict:
    """One wrk run; its ``done`` hook prints one JSON line (latencies in microseconds)."""
    served = ",".join(f'{{"{r}","{t}"}}' for r, t in lua.get("served", []))
    script.write_text(_LUA % {"kind": kind, "base": lua.get("base", ""), "served": served})
    threads = min(clients, 2)
    cmd = [wrk_path(), "-t", str(threads), "-c", str(clients), "-d", f"{seconds:g}s"]
    cmd += ["--timeout", "10s", "-s", str(script), url]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 120)
    line = next((x for x in out.stdout.splitlines() if x.startswith("BENCH ")), None)
    if out.returncode != 0 or line is None:
        raise PozytywkaError(f"wrk failed: {(out.stderr or out.stdout).strip()[-300:]}")
    r = json.loads(line.removeprefix("BENCH "))
    socket_errors = r["connect"] + r["read"] + r["write"] + r["timeout"]
    return {
        "clients": clients,
        "requests": r["requests"],
        "ok": r["requests"] - r["status"],
        "errors": r["status"] + socket_errors,
        "rps": round(r["requests"] / (r["duration_us"] / 1e6), 1),
        "p50_ms": round(r["p50_us"] / 1000, 2),
        "p95_ms": round(r["p95_us"] / 1000, 2),
        "p99_ms": round(r["p99_us"] / 1000, 2),
    }


def answered_2xx(url: str, route: str) -> int:
    """2xx answers the server sent on ``route`` (its ``/metrics``), once the count is stable."""
    last = -1
    for _ in range(100):  # requests still in flight when wrk stopped finish within a few ms
        text = httpx.get(url + "/metrics", timeout=30).text
        n = 0
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                lab = s.labels
                if s.name == "pozytywka_http_requests_total" and lab.get("route") == route:
                    n += int(s.value) if lab.get("status", "").startswith("2") else 0
        if n == last:
            return n
        last = n
        time.sleep(0.05)
    raise PozytywkaError(f"the server's count of answers on {route} did not settle")


def bench_store(
    root: Path, store_url: str, levels, seconds: float, workers: int = 1
) -> dict[str, list[dict]]:
    """All endpoints at all levels against one service (``workers`` processes) on ``store_url``."""
    store = Store(Settings(store_url=store_url, root=root).database_url)
    results: dict[str, list[dict]] = {k: [] for k in ENDPOINTS}
    with (
        tempfile.TemporaryDirectory(prefix="pozytywka-bench-serve-") as tmp,
        ServiceProcess(
            root,
            {"POZYTYWKA_STORE": store_url, "POZYTYWKA_CLOCK": "wall"},
            args=("--workers", str(workers)),
        ) as svc,
    ):
        script = Path(tmp) / "bench.lua"
        served = _served(svc.url)
        t0 = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
        run = 0
        for kind in ENDPOINTS:
            table = {"healthz": None, "playlists": "requests", "events": "events"}[kind]
            route = {"healthz": "/healthz", "playlists": "/v1/playlists", "events": "/v1/events"}
            for clients in levels:
                run += 1
                # Event times: a second of their own per run, after the exposures above.
                base = (t0 + dt.timedelta(seconds=run)).isoformat()
                before = store.count(table) if table else 0
                sent = answered_2xx(svc.url, route[kind])
                r = run_wrk(svc.url, kind, clients, seconds, script, base=base, served=served)
                r["answered_2xx"] = answered_2xx(svc.url, route[kind]) - sent
                if table:
                    rows = store.count(table) - before
                    r["rows"] = rows
                    r["completeness"] = (
                        round(rows / r["answered_2xx"], 3) if r["answered_2xx"] else None
                    )
                results[kind].append(r)
    store.dispose()
    for kind in ENDPOINTS:
        for r, floor in zip(results[kind], results["healthz"], strict=True):
            r["ratio_to_healthz"] = round(r["rps"] / floor["rps"], 3) if floor["rps"] else None
    return results


def markdown(doc: dict) -> str:
    n = doc.get("workers", 1)
    workers = "one uvicorn worker" if n == 1 else f"{n} uvicorn workers"
    lines = [
        f"wrk, {doc['seconds']:g} s per run, {workers}, {doc['cpus']} CPUs; "
        f"load average {doc['load_before']} before, {doc['load_after']} after.",
        "",
        "| store | endpoint | clients | req/s | / healthz | p50 ms | p95 ms | p99 ms "
        "| errors | rows / 2xx |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for store, results in doc["stores"].items():
        for kind in ENDPOINTS:
            for r in results[kind]:
                comp = r.get("completeness")
                lines.append(
                    f"| {store} | {kind} | {r['clients']} | {r['rps']:.0f} "
                    f"| {r['ratio_to_healthz']:.2f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} "
                    f"| {r['p99_ms']:.1f} | {r['errors']} "
                    f"| {'-' if comp is None else f'{comp:.3f}'} |"
                )
    return "\n".join(lines) + "\n"


def plot(doc: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stores = list(doc["stores"])
    fig, axes = plt.subplots(1, len(stores), figsize=(5 * len(stores), 3.6), squeeze=False)
    for ax, store in zip(axes[0], stores, strict=True):
        for kind in ENDPOINTS:
            rs = doc["stores"][store][kind]
            ax.plot([r["clients"] for r in rs], [r["rps"] for r in rs], marker="o", label=kind)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("requests/s")
        ax.set_title(f"{store} (load avg {doc['load_before'][0]})")
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def bench(
    root: Path, stores: dict[str, str], levels=LEVELS, seconds: float = 5.0, workers: int = 1
) -> dict:
    """``stores``: name -> store URL (``sqlite:///...``, ``postgresql://...``); ``workers``:
    the service's uvicorn worker processes."""
    doc = {
        "tool": "wrk",
        "seconds": seconds,
        "workers": workers,
        "levels": list(levels),
        "cpus": os.cpu_count(),
        "load_before": load_average(),
        "stores": {},
    }
    started = time.time()
    for name, url in stores.items():
        doc["stores"][name] = bench_store(root, url, levels, seconds, workers)
    doc["load_after"] = load_average()
    doc["wall_seconds"] = round(time.time() - started, 1)
    return doc
