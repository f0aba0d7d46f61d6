"""A worker's ties to its uvicorn supervisor (``pozytywka serve --workers N``).

With several workers, uvicorn's supervisor process spawns them
(``multiprocessing``, spawn start method) and keeps them alive. Two things the
service needs from that relation:

- **Exit with the supervisor.** A ``kill -9`` of the supervisor would leave its
  workers serving as orphans under PID 1, holding the port, so a restart fails
  with "address already in use". :func:`exit_with_supervisor` asks Linux to send
  the worker SIGTERM (uvicorn's graceful shutdown) when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``, prctl(2)).
- **One reload for every worker.** ``POST /admin/reload`` reaches one worker. After
  a successful reload, :func:`notify_siblings` sends each other *ready* worker
  SIGUSR1, and each reloads the same published files itself, with the same checks
  (the app's handler, installed before the worker counts as ready). A worker is
  ready when its live-week gauge file exists in ``PROMETHEUS_MULTIPROC_DIR``; one
  still starting loads the files on disk at its start anyway, and ignores SIGUSR1
  until its handler is installed (:func:`ignore_reload_signal`: the default
  action would kill it). No worker
  restarts: uvicorn's own rolling restart (SIGHUP) needs a ready timeout of the
  load's length, which its supervisor also uses as the liveness ping's timeout, so
  a worker killed during a ping would stall the supervisor for that long.

And one thing it needs for readiness: with several workers, ``GET /readyz`` answers
200 only when every worker serves (:func:`workers_serving`), whichever worker
answers it; a worker starting (at start, or respawned after a crash) makes it 503.
Otherwise a client (a test, a load balancer's first probe) would take the service
as ready while one worker still loads, and a reload would miss that worker.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from pathlib import Path

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
#: How many workers ``pozytywka serve --workers N`` started (set for its workers).
WORKERS_ENV = "POZYTYWKA_SERVE_WORKERS"


def supervisor_pid() -> int | None:
    """The pid of the uvicorn supervisor when this process is one of its workers, else None."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None else None


def exit_with_supervisor() -> None:
    """Linux: SIGTERM this worker when its supervisor dies; a no-op outside a worker.

    If the supervisor died before the request took effect (the worker is already
    an orphan), the worker terminates itself at once."""
    pid = supervisor_pid()
    if pid is None or not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
        return
    if os.getppid() != pid:
        os.kill(os.getpid(), signal.SIGTERM)


def worker_pids(supervisor: int) -> list[int]:
    """The uvicorn workers of ``supervisor`` (its ``spawn_main`` children; not the
    multiprocessing resource tracker). Empty when /proc cannot tell."""
    try:
        kids = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    except OSError:
        return []
    found = []
    for kid in kids:
        try:
            if b"spawn_main" in Path(f"/proc/{kid}/cmdline").read_bytes():
                found.append(int(kid))
        except OSError:
            continue  # exited meanwhile
    return found


def ignore_reload_signal() -> None:
    """In a worker, until the app installs its handler: a SIGUSR1 from a sibling's reload
    is ignored (its default action would kill a worker that is still starting, and it
    loads the published week at start anyway). A no-op outside a worker; main thread."""
    if supervisor_pid() is not None:
        signal.signal(signal.SIGUSR1, signal.SIG_IGN)


def worker_ready(metrics_dir: str, pid: int) -> bool:
    """Whether worker ``pid`` has loaded everything and handles SIGUSR1: its live-week
    gauge file exists (written last at its start, removed at its exit)."""
    return any(Path(metrics_dir).glob(f"gauge_live*_{pid}.db"))


def notify_siblings(metrics_dir: str | None) -> list[int]:
    """SIGUSR1 to every other ready worker of this worker's supervisor (they reload
    the published week themselves). Returns the pids signalled; [] outside a worker."""
    sup = supervisor_pid()
    if sup is None or not metrics_dir:
        return []
    told = []
    for pid in worker_pids(sup):
        if pid != os.getpid() and worker_ready(metrics_dir, pid) and pid_alive(pid):
            os.kill(pid, signal.SIGUSR1)
            told.append(pid)
    return told


def workers_serving(metrics_dir: str | None) -> tuple[int, int] | None:
    """``(ready workers, workers expected)`` of this worker's supervisor; None outside
    a worker. Expected: ``$POZYTYWKA_SERVE_WORKERS`` (set by ``pozytywka serve``), else
    every worker the supervisor has now."""
    sup = supervisor_pid()
    if sup is None or not metrics_dir:
        return None
    pids = [p for p in worker_pids(sup) if pid_alive(p)]
    ready = sum(worker_ready(metrics_dir, p) for p in pids)
    expected = os.environ.get(WORKERS_ENV, "")
    return ready, int(expected) if expected.isdigit() else max(len(pids), 1)


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs: it exists (signal 0, kill(2)) and is not a zombie
    (exited, not yet reaped: state ``Z`` in /proc/<pid>/stat, proc(5))."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust the signal
    return stat[stat.rindex(")") + 2 :].split()[0] not in ("Z", "X")
