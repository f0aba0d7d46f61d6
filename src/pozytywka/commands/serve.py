"""``pozytywka serve``: the playlist service under uvicorn (``make serve``).

Settings come from the environment (:mod:`pozytywka.serve.settings`). The
published artifacts and the store are checked before uvicorn starts, so a
missing artifact or an unreachable database prints one line
("... run dvc repro first") instead of a traceback. SIGTERM (and Ctrl-C) is
uvicorn's graceful shutdown: the socket stops accepting, requests in flight
finish (up to ``--graceful-timeout`` seconds), then the store is closed.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the playlist service (FastAPI under uvicorn)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default: %(default)s)")
    p.add_argument("--port", type=int, default=8000, help="port (default: %(default)s)")
    p.add_argument("--root", default=None, help="project root (default: $POZYTYWKA_ROOT or .)")
    p.add_argument(
        "--graceful-timeout",
        type=float,
        default=30.0,
        help="seconds in-flight requests get after SIGTERM (default: %(default)s)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..serve.app import create_app
    from ..serve.artifacts import load_artifacts
    from ..serve.settings import settings_from_env
    from ..serve.store import Store

    settings = settings_from_env()
    if args.root:
        settings = dataclasses.replace(settings, root=Path(args.root))
    load_artifacts(settings.root)  # one-line errors before uvicorn starts
    Store(settings.database_url).dispose()
    config = uvicorn.Config(
        create_app(settings),
        host=args.host,
        port=args.port,
        timeout_graceful_shutdown=args.graceful_timeout,
        log_level="info",
        access_log=False,
    )
    uvicorn.Server(config).run()
    return 0
