"""``pozytywka bench-serve``: the service under load from wrk, SQLite then PostgreSQL.

A benchmark, not a test (see :mod:`pozytywka.bench.serve`); writes
``reports/bench/serve.json``, ``serve.md`` and ``serve.png``. PostgreSQL is a
throwaway server (:mod:`pozytywka.serve.pgtemp`), skipped with a note when
Debian's ``postgresql`` binaries are absent.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from ..errors import PozytywkaError
from ..paths import BENCH_REPORTS

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench-serve", help="service throughput and latency under wrk (SQLite, PostgreSQL)"
    )
    p.add_argument("--levels", default="1 8 32", help="concurrent clients (default: %(default)r)")
    p.add_argument("--seconds", type=float, default=5.0, help="per run (default: %(default)s)")
    p.add_argument(
        "--stores", default="sqlite postgresql", help="stores to run (default: %(default)r)"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="uvicorn worker processes of the service (default: %(default)s)",
    )
    p.add_argument("--out", default=str(BENCH_REPORTS), help="folder (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..bench.serve import bench, markdown, plot, wrk_path
    from ..io import write_json, write_text
    from ..serve.artifacts import load_artifacts
    from ..serve.pgtemp import PostgresServer, pg_bin
    from ..serve.process import free_port

    root = Path.cwd()
    load_artifacts(root)  # one-line error when nothing is published
    wrk_path()
    names = args.stores.split()
    try:
        levels = [int(x) for x in args.levels.split()]
    except ValueError:
        raise PozytywkaError(f"--levels: whole numbers of clients, got {args.levels!r}") from None
    if not levels or min(levels) < 1 or args.workers < 1 or args.seconds <= 0:
        raise PozytywkaError("--levels, --workers and --seconds must be positive")
    unknown = sorted(set(names) - {"sqlite", "postgresql"})
    if unknown:
        raise PozytywkaError(f"--stores: unknown {' '.join(unknown)} (sqlite, postgresql)")
    pg = None
    with tempfile.TemporaryDirectory(prefix="pozytywka-bench-serve-") as tmp:
        stores = {}
        if "sqlite" in names:
            stores["sqlite"] = f"sqlite:///{Path(tmp) / 'log.sqlite'}"
        if "postgresql" in names:
            bindir = pg_bin()
            if bindir is None:
                log.warning("PostgreSQL binaries not found: the PostgreSQL run is skipped")
            else:
                pg = PostgresServer(bindir, free_port()).start()
                stores["postgresql"] = pg.create_database()
        try:
            doc = bench(root, stores, levels, args.seconds, workers=args.workers)
        finally:
            if pg is not None:
                pg.stop()
    out = Path(args.out)
    write_json(out / "serve.json", doc)
    write_text(out / "serve.md", markdown(doc))
    plot(doc, out / "serve.png")
    print(markdown(doc))
    return 0
