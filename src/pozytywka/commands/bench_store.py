"""``pozytywka bench-store``: ``GET /v1/playlists`` latency with 10k and 1M exposures stored.

A benchmark, not a test (see :mod:`pozytywka.bench.store`); writes
``reports/bench/store.json`` and ``reports/bench/store.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..paths import BENCH_REPORTS


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench-store", help="playlist service latency with 10k and 1M exposures in the store"
    )
    p.add_argument("--sizes", default="10000 1000000", help="exposures (default: %(default)r)")
    p.add_argument("--requests", type=int, default=400, help="timed requests per size")
    p.add_argument("--out", default=str(BENCH_REPORTS), help="folder (default: %(default)s)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..bench.store import bench_size, markdown
    from ..io import write_json, write_text

    results = [bench_size(Path.cwd(), int(n), args.requests) for n in args.sizes.split()]
    out = Path(args.out)
    write_json(out / "store.json", {"sizes": results})
    write_text(out / "store.md", markdown(results))
    print(markdown(results))
    return 0
