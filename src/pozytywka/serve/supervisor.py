"""A worker's ties to its uvicorn supervisor (``pozytywka serve --workers N``).

With several workers, uvicorn's supervisor process spawns them
(``multiprocessing``, spawn start method) and keeps them alive. Two things the
service needs from that relation:

- **Exit with the supervisor.** A ``kill -9`` of the supervisor would leave its
  workers serving as orphans under PID 1, holding the port, so a restart fails
  with "address already in use". :func:`exit_with_supervisor` asks Linux to send
  the worker SIGTERM (uvicorn's graceful shutdown) when its parent dies
  (``prctl(PR_SET_PDEATHSIG)``, prctl(2)).
- **One reload for every worker.** ``POST /admin/reload`` reaches one worker.
  :func:`restart_workers` sends the supervisor SIGHUP: uvicorn replaces each
  worker by a new one, waiting until the new one is ready before retiring the old
  one (``Multiprocess.restart_all``), and each new worker loads the published
  week at start. So no moment has no worker, and every request row still records
  the artifact it served.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


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


def restart_workers() -> bool:
    """Ask the supervisor for a rolling restart of every worker (SIGHUP).

    Returns False when this process is not a worker (one process serves: nothing
    else to restart)."""
    pid = supervisor_pid()
    if pid is None:
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (signal 0: kill(2))."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
