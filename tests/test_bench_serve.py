"""The bench-serve harness on a tiny published week: one level, one second, SQLite.

No duration is asserted; the numbers must be well formed and the log complete.
"""

from __future__ import annotations

import shutil

import pytest

from pozytywka.bench.serve import ENDPOINTS, bench, markdown
from serve_support import write_tiny_root

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed (make bench-serve)"),
]


def test_bench_serve_reports_every_endpoint_with_a_complete_log(tmp_path):
    root = write_tiny_root(tmp_path / "root")
    doc = bench(root, {"sqlite": f"sqlite:///{tmp_path / 'log.sqlite'}"}, levels=[2], seconds=1)
    runs = doc["stores"]["sqlite"]
    assert set(runs) == set(ENDPOINTS)
    for kind in ENDPOINTS:
        (r,) = runs[kind]
        assert r["clients"] == 2 and r["errors"] == 0 and r["requests"] > 0
        assert r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
        assert r["answered_2xx"] >= r["ok"] > 0  # wrk misses the answers in flight at its stop
    assert runs["healthz"][0]["ratio_to_healthz"] == 1.0
    for kind in ("playlists", "events"):
        assert runs[kind][0]["rows"] == runs[kind][0]["answered_2xx"]
        assert runs[kind][0]["completeness"] == 1.0
    table = markdown(doc)
    assert table.count("| sqlite |") == 3 and "load average" in table
