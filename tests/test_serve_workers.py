"""Several workers (``pozytywka serve --workers 2``): one reload reaches every worker (the
others follow on SIGUSR1), a killed supervisor takes its workers with it, and the metrics
folder is kept honest."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pozytywka.commands.serve import check_multiprocess_dir, remove_orphaned_dirs
from pozytywka.errors import PozytywkaError
from pozytywka.serve.metrics import forget_dead_workers
from pozytywka.serve.process import ServiceProcess
from pozytywka.serve.supervisor import pid_alive, worker_pids
from serve_support import WEEK, write_tiny_root
from test_serve_reload import NEW_VERSIONS, NEW_WEEK, TOKEN, publish


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def until(condition, what: str, deadline_s: float = 180.0):
    """Poll ``condition()`` until it is truthy (a state to reach, not a duration to assert)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        got = condition()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"never happened: {what}")


def started(pid: int) -> str | None:
    """When process ``pid`` started (``/proc/<pid>/stat`` field 22, proc(5)); None when no
    process has that pid. With the pid it names one process, even after the pid is reused
    (pids wrap at /proc/sys/kernel/pid_max, 32768 here: on a busy machine, within minutes)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()[19]


def still_running(pid: int, start: str | None) -> bool:
    """Whether the process that started at ``start`` as ``pid`` still runs (not a zombie)."""
    return start is not None and started(pid) == start and pid_alive(pid)


def two_workers(pid: int) -> list[int] | None:
    found = worker_pids(pid)
    return found if len(found) == 2 else None


def live_samples(url: str, label: str) -> list[str]:
    """``label`` of each live sample of ``pozytywka_live_artifacts_info`` (one per worker)."""
    text = httpx.get(url + "/metrics", timeout=30).text
    return sorted(
        s.labels[label]
        for fam in text_string_to_metric_families(text)
        for s in fam.samples
        if s.name == "pozytywka_live_artifacts_info" and s.value
    )


def live_pids(url: str) -> list[int]:
    return sorted(int(pid) for pid in live_samples(url, "pid"))


def live_weeks(url: str) -> list[str]:
    return live_samples(url, "week_start")


def ready(url: str) -> bool:
    return httpx.get(url + "/readyz", timeout=30).status_code == 200


def test_one_reload_moves_every_worker_to_the_new_week(tmp_path):
    root = write_tiny_root(tmp_path / "root")
    env = {
        "POZYTYWKA_STORE": f"sqlite:///{tmp_path / 'log.sqlite'}",
        "POZYTYWKA_ADMIN_TOKEN": TOKEN,
    }
    with ServiceProcess(root, env, args=("--workers", "2")) as svc:
        # ready (ServiceProcess waited for /readyz) means both workers serve, not one
        assert httpx.get(svc.url + "/readyz", timeout=30).json()["checks"]["workers"] is True
        assert live_weeks(svc.url) == [WEEK, WEEK]
        publish(root, NEW_WEEK, NEW_VERSIONS)
        r = httpx.post(
            svc.url + "/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )
        assert r.status_code == 200, r.text
        assert r.json()["live"]["week_start"] == NEW_WEEK and r.json()["workers_notified"] == 1
        # the other worker reloads the same files on SIGUSR1; then both report the new week
        until(lambda: live_weeks(svc.url) == [NEW_WEEK, NEW_WEEK], "both workers on the new week")
        weeks = {
            httpx.get(svc.url + "/v1/playlists", params={"user_id": f"u{i}"}).json()["week_start"]
            for i in range(30)  # a new connection each: both workers answer some
        }
        assert weeks == {NEW_WEEK}
        again = httpx.post(
            svc.url + "/admin/reload", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60
        )
        assert again.status_code == 409  # whichever worker answers: nothing new


def test_a_killed_supervisor_takes_its_workers_with_it(tmp_path):
    root = write_tiny_root(tmp_path / "root")
    env = {"POZYTYWKA_STORE": f"sqlite:///{tmp_path / 'log.sqlite'}"}
    svc = ServiceProcess(root, env, args=("--workers", "2")).start()
    assert svc.proc is not None
    workers: dict[int, str | None] = {}  # pid -> start time: never signal a reused pid
    try:
        found = until(lambda: two_workers(svc.proc.pid), "two workers started")
        workers = {w: started(w) for w in found}
        svc.kill()  # SIGKILL: the supervisor cannot stop them itself
        until(lambda: not any(still_running(*w) for w in workers.items()), "workers gone")
        with pytest.raises(httpx.TransportError):
            httpx.get(svc.url + "/healthz", timeout=5)
        ServiceProcess(root, env, port=svc.port).start().terminate()  # the port is free again
    finally:
        svc.kill()
        for w, start in workers.items():
            if still_running(w, start):
                os.kill(w, signal.SIGKILL)


def test_a_killed_worker_is_replaced_and_forgotten_by_the_live_gauge(tmp_path):
    root = write_tiny_root(tmp_path / "root")
    env = {"POZYTYWKA_STORE": f"sqlite:///{tmp_path / 'log.sqlite'}"}
    with ServiceProcess(root, env, args=("--workers", "2")) as svc:
        assert svc.proc is not None
        before = until(lambda: two_workers(svc.proc.pid), "two workers started")
        until(lambda: live_weeks(svc.url) == [WEEK, WEEK], "both workers live")
        os.kill(before[0], signal.SIGKILL)
        after = until(
            lambda: (w := two_workers(svc.proc.pid)) and before[0] not in w and w,
            "uvicorn respawned the killed worker",
        )
        assert before[1] in after
        until(lambda: live_pids(svc.url) == sorted(after), "one live sample per live worker")
        until(lambda: ready(svc.url), "ready again: both workers serve")


def test_a_metrics_folder_with_an_earlier_runs_files_is_refused(tmp_path):
    check_multiprocess_dir(tmp_path)  # empty: fine
    (tmp_path / "counter_123.db").write_bytes(b"")
    with pytest.raises(PozytywkaError, match="holds 1 files of an earlier run"):
        check_multiprocess_dir(tmp_path)
    with pytest.raises(PozytywkaError, match="is not a folder"):
        check_multiprocess_dir(tmp_path / "nope")


def test_a_zombie_is_not_alive():
    proc = subprocess.Popen(["true"])  # exits at once; not waited for: a zombie
    until(lambda: Path(f"/proc/{proc.pid}/stat").read_text().split(") ")[1][0] == "Z", "zombie")
    assert not pid_alive(proc.pid) and pid_alive(os.getpid())
    proc.wait()
    assert not pid_alive(proc.pid)


def test_orphaned_metrics_folders_and_dead_workers_gauges_are_removed(tmp_path):
    gone, alive = dead_pid(), os.getpid()
    for pid in (gone, alive):
        (tmp_path / f"pozytywka-prometheus-{pid}-x1").mkdir()
    (tmp_path / "pozytywka-prometheus-other").mkdir()  # not ours: no pid in the name
    assert remove_orphaned_dirs(tmp_path) == [tmp_path / f"pozytywka-prometheus-{gone}-x1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["pozytywka-prometheus-other", f"pozytywka-prometheus-{alive}-x1"]
    )
    prom = tmp_path / "prom"
    prom.mkdir()
    for name in (f"gauge_liveall_{gone}.db", f"gauge_liveall_{alive}.db", f"counter_{gone}.db"):
        (prom / name).write_bytes(b"")
    assert forget_dead_workers(str(prom)) == [gone]
    assert sorted(p.name for p in prom.iterdir()) == [
        f"counter_{gone}.db",  # a dead worker's counts still add up
        f"gauge_liveall_{alive}.db",
    ]
