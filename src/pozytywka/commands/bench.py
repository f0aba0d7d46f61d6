"""``pozytywka bench``: the performance benchmark (``make bench``, issue 6).

For each event count: generate a synthetic dump of about that size in a
temporary project folder, run ingest, features, baseline, train and playlists
there as separate processes, time the one-query DuckDB reference on the same
JSON lines, and write ``reports/bench/bench.json``, ``bench.md`` (the table)
and ``bench.png`` (time and memory against scale). The logic is in
:mod:`pozytywka.bench`; this module only parses arguments and writes files.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..bench import report
from ..bench.runner import STAGES, BenchConfig, run_bench
from ..bench.scale import parse_scales
from ..cli import UserPath
from ..errors import PozytywkaError
from ..io import save_figure, write_json, write_text
from ..paths import BENCH_REPORTS

DEFAULT_EVENTS = "1000000 10000000"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "bench",
        help="performance benchmark at several scales -> reports/bench/",
        description=__doc__.splitlines()[0],
    )
    p.add_argument(
        "--events",
        default=os.environ.get("BENCH_EVENTS") or DEFAULT_EVENTS,
        help="session event counts, e.g. '1M 10M' (default: $BENCH_EVENTS or %(default)r)",
    )
    p.add_argument(
        "--out",
        default=str(BENCH_REPORTS),
        action=UserPath,
        help="output folder (default: %(default)s)",
    )
    p.add_argument(
        "--workdir",
        default=None,
        action=UserPath,
        help="where the dumps go (default: a temp folder)",
    )
    p.add_argument("--keep", action="store_true", help="keep the per-scale project folders")
    p.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="override catboost.iterations in the benchmark (default: params.yaml's)",
    )
    p.add_argument(
        "--noop-repro",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also time `dvc repro` with nothing to do, in a tiny copy of the project",
    )
    p.add_argument(
        "--profile",
        action="append",
        default=[],
        choices=STAGES,
        help="rerun a stage under cProfile and save its top functions (repeatable)",
    )
    p.add_argument(
        "--sampling",
        default=None,
        metavar="FRACTIONS",
        help="instead of the scales: backtest CatBoost trained on these fractions of the "
        "tracks of this project's features (e.g. '1,0.5,0.25'; run `dvc repro features` "
        "first) -> sampling.json / sampling.md",
    )
    p.set_defaults(func=run)


def _fractions(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.replace(",", " ").split()]
    except ValueError:
        values = []
    if not values or not all(0.0 < v <= 1.0 for v in values):
        raise PozytywkaError(f"bench: --sampling takes fractions in (0, 1], got {text!r}")
    return values


def run_sampling(args: argparse.Namespace) -> int:
    import pandas as pd

    from ..bench.sampling import format_rows, sampling_tradeoff
    from ..config import load_params
    from ..paths import FEATURES, INTERIM_TRACK_GENRES

    fractions = _fractions(args.sampling)
    for path in (FEATURES, INTERIM_TRACK_GENRES):
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run `dvc repro features` first")
    rows = sampling_tradeoff(
        pd.read_parquet(FEATURES),
        pd.read_parquet(INTERIM_TRACK_GENRES),
        load_params(args.params),
        fractions,
    )
    out = Path(args.out)
    write_json(out / "sampling.json", rows)
    table = format_rows(rows)
    write_text(out / "sampling.md", table + "\n")
    print(table)
    print(f"\nwrote {out / 'sampling.json'}, {out / 'sampling.md'}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.sampling is not None:
        return run_sampling(args)
    if args.iterations is not None and args.iterations < 1:
        raise PozytywkaError(f"bench: --iterations must be >= 1, got {args.iterations}")
    out = Path(args.out)
    config = BenchConfig(
        scales=parse_scales(args.events),
        out_dir=out,
        params_path=Path(args.params),
        work_dir=Path(args.workdir) if args.workdir else None,
        keep=args.keep,
        catboost_iterations=args.iterations,
        noop_repro=args.noop_repro,
        profile=tuple(args.profile),
        project_root=Path.cwd(),
    )
    bench = run_bench(config)
    write_json(out / "bench.json", bench)
    write_text(out / "bench.md", report.format_table(bench, markdown=True) + "\n")
    save_figure(out / "bench.png", report.plot(bench))
    print(report.format_table(bench))
    print(f"\nwrote {out / 'bench.json'}, {out / 'bench.md'}, {out / 'bench.png'}")
    return 0
