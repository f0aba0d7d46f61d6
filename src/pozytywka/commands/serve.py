"""``pozytywka serve``: the playlist service under uvicorn (``make serve``).

Settings come from the environment (:mod:`pozytywka.serve.settings`). The port
is bound first (:func:`bind_port`): a busy one is one line within a second, before
anything is loaded. The published artifacts and the store are checked before
uvicorn starts, so a missing artifact or an unreachable database prints one line
("... run dvc repro first") instead of a traceback. SIGTERM (and Ctrl-C) is
uvicorn's graceful shutdown: the socket stops accepting, requests in flight
finish (up to ``--graceful-timeout`` seconds), then the store is closed.

``--workers N`` (N > 1) runs N uvicorn worker processes, each building the app
with :func:`~pozytywka.serve.app.create_app` from the environment; their
Prometheus metrics are summed through ``PROMETHEUS_MULTIPROC_DIR``: a folder
given there must be empty (prometheus_client adds every file in it: an earlier
run's counts would be added to this run's); when it is not set, a temporary
``pozytywka-prometheus-<pid>-*`` folder, removed at exit (and, after a
``kill -9``, by the next start). A worker exits when the supervisor dies, and a
successful ``POST /admin/reload`` tells the other workers to reload the same
week (:mod:`pozytywka.serve.supervisor`); ``GET /readyz`` answers 200 once every
worker serves. The manual clock needs one worker.
"""

from __future__ import annotations

import argparse
import dataclasses
import errno
import logging
import os
import shutil
import socket
import tempfile
from pathlib import Path

from ..errors import PozytywkaError

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the playlist service (FastAPI under uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    p.add_argument("--port", type=_port, default=8000, help="port (default: %(default)s)")
    p.add_argument("--root", default=None, help="project root (default: $POZYTYWKA_ROOT or .)")
    p.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        help="seconds in-flight requests get after SIGTERM (default: %(default)s)",
    )
    p.add_argument("--workers", type=_positive, default=1, help="worker processes (default: 1)")
    p.set_defaults(func=run)


def _port(text: str) -> int:
    """A TCP port, 1..65535 (argparse type: a bad value is a one-line usage error)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number in 1..65535, got {text!r}")
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def bind_port(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (not listening yet), as uvicorn binds one
    (``SO_REUSEADDR``: a port left in TIME_WAIT by a stopped server is free; IPv6 when
    ``host`` has a colon).

    Raises :class:`PozytywkaError` with one line naming the port and what to do when it
    is taken (``EADDRINUSE``), needs privileges (``EACCES``), or the host is not one of
    this machine's addresses. Called first, before anything is imported or loaded, so a
    busy port is reported at once (issue 22, item 5), not after the artifacts load."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        where = f"{host}:{port}"
        if exc.errno == errno.EADDRINUSE:
            raise PozytywkaError(
                f"port {port} is already in use on {host} (another pozytywka serve?): "
                f"stop what listens there (ss -ltnp 'sport = :{port}') or pick a free one "
                "with --port"
            ) from None
        if exc.errno == errno.EACCES:
            raise PozytywkaError(
                f"no permission to listen on {where}: ports below 1024 need privileges, "
                "pick one above with --port"
            ) from None
        raise PozytywkaError(
            f"cannot listen on {where} ({exc.strerror}): check --host and --port"
        ) from None
    return sock


def run(args: argparse.Namespace) -> int:
    # First of all: a busy port is one line at once, not after seconds of loading.
    sock = bind_port(args.host, args.port)
    try:
        return _serve(args, sock)
    finally:
        sock.close()


def _serve(args: argparse.Namespace, sock: socket.socket) -> int:
    import uvicorn

    from ..serve.app import create_app
    from ..serve.artifacts import load_artifacts
    from ..serve.settings import settings_from_env
    from ..serve.store import Store, StoreUnavailable

    settings = settings_from_env()
    if args.root:
        settings = dataclasses.replace(settings, root=Path(args.root))
    if args.workers > 1 and settings.clock == "manual":
        raise PozytywkaError(
            "POZYTYWKA_CLOCK=manual needs one worker: each worker would keep its own "
            "clock, and PUT /v1/admin/clock would move only one of them"
        )
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        check_multiprocess_dir(Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]))
    load_artifacts(settings.root)  # one-line errors before uvicorn starts
    try:  # the store opens and takes a write (a full disk, a read-only file): one line
        store = Store(settings.database_url)
        try:
            store.probe()
        finally:
            store.dispose()
    except StoreUnavailable as exc:
        raise PozytywkaError(f"cannot start: {exc.reason}") from None
    if args.workers > 1:
        sock.close()  # uvicorn's supervisor binds it again for its workers
        return _run_workers(args, settings.root)
    config = uvicorn.Config(
        create_app(settings),
        host=args.host,
        port=args.port,
        timeout_graceful_shutdown=args.graceful_timeout,
        log_level="info",
        access_log=False,
    )
    host = f"[{args.host}]" if ":" in args.host else args.host
    log.info("serving on http://%s:%d once loaded (Ctrl-C stops)", host, args.port)
    uvicorn.Server(config).run(sockets=[sock])  # the port held since the start
    return 0


METRICS_DIR_PREFIX = "pozytywka-prometheus-"


def check_multiprocess_dir(path: Path) -> None:
    """Raise :class:`PozytywkaError` unless ``path`` is an existing, empty folder."""
    if not path.is_dir():
        raise PozytywkaError(f"PROMETHEUS_MULTIPROC_DIR={path} is not a folder: create it empty")
    left = sorted(p.name for p in path.iterdir())
    if left:
        raise PozytywkaError(
            f"PROMETHEUS_MULTIPROC_DIR={path} holds {len(left)} files of an earlier run "
            f"({left[0]}, ...): their counts would be added to this run's; empty it or "
            "give an empty folder"
        )


def remove_orphaned_dirs(tmp: Path) -> list[Path]:
    """Remove the metrics folders ``pozytywka-prometheus-<pid>-*`` of supervisors that no
    longer run (a ``kill -9`` skips the removal at exit). Returns what was removed."""
    from ..serve.supervisor import pid_alive

    removed = []
    for d in tmp.glob(f"{METRICS_DIR_PREFIX}*-*"):
        pid = d.name.removeprefix(METRICS_DIR_PREFIX).split("-", 1)[0]
        if d.is_dir() and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _run_workers(args: argparse.Namespace, root: Path) -> int:
    import uvicorn

    from ..serve.supervisor import WORKERS_ENV

    os.environ["POZYTYWKA_ROOT"] = str(root.resolve())
    os.environ[WORKERS_ENV] = str(args.workers)  # /readyz: 200 once all of them serve
    own_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        remove_orphaned_dirs(Path(tempfile.gettempdir()))
        own_dir = tempfile.mkdtemp(prefix=f"{METRICS_DIR_PREFIX}{os.getpid()}-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_dir
    try:
        uvicorn.run(
            "pozytywka.serve.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            timeout_graceful_shutdown=args.graceful_timeout,
            log_level="info",
            access_log=False,
        )
    finally:
        if own_dir:
            shutil.rmtree(own_dir, ignore_errors=True)
    return 0
