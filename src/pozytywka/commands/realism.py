"""``pozytywka realism [DUMP...]``: the synthetic dump next to the real dumps (issue 21 item 4).

Reads the synthetic dump (``--synthetic``, default ``data/raw/synthetic``, made by
``dvc repro data/dvc.yaml:generate``) and every real dump: the folders given, or
every folder of the real dumps folder (``--dumps-dir``, default ``$DUMPS_DIR`` or
``../shared/dumps`` beside the project root). A folder without a ``tracks`` file
(or any other required file) is skipped with its one-line reason. Each dump goes
through the project's own ingest, then :mod:`pozytywka.realism.stats`; the report
goes to ``reports/realism/{realism.md,realism.json,realism.png}``.

``--before`` names an earlier ``realism.json`` whose synthetic values fill the
"before calibration" column (default: ``reports/realism/before_calibration.json``
when it exists).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from ..cli import UserPath
from ..errors import PozytywkaError
from ..scoreboard import DEFAULT_DUMPS as DUMPS_FOLDER

log = logging.getLogger(__name__)

OUT = Path("reports/realism")
BEFORE = OUT / "before_calibration.json"
SYNTHETIC = Path("data/raw/synthetic")
DUMPS_ENV = "DUMPS_DIR"
DEFAULT_DUMPS = str(DUMPS_FOLDER)


class UserPaths(argparse.Action):
    """:class:`~pozytywka.cli.UserPath` for a list of paths (``nargs``)."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [Path(v).absolute() for v in values])


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "realism",
        help="statistics of the synthetic dump next to the real dumps -> reports/realism/",
    )
    p.add_argument(
        "dumps",
        nargs="*",
        action=UserPaths,
        help="real dump folders (default: every folder in --dumps-dir)",
    )
    p.add_argument(
        "--dumps-dir",
        action=UserPath,
        default=os.environ.get(DUMPS_ENV) or DEFAULT_DUMPS,
        help=f"the real dumps folder (default: ${DUMPS_ENV} or %(default)s)",
    )
    p.add_argument(
        "--synthetic",
        action=UserPath,
        default=str(SYNTHETIC),
        help="the synthetic dump (default: %(default)s)",
    )
    p.add_argument(
        "--before",
        action=UserPath,
        default=str(BEFORE),
        help="an earlier realism.json: its synthetic values are the 'before' column "
        "(default: %(default)s, when it exists)",
    )
    p.add_argument(
        "--out", action=UserPath, default=str(OUT), help="report folder (default: %(default)s)"
    )
    p.set_defaults(func=run)


def real_folders(dumps: list[Path], dumps_dir: Path) -> list[Path]:
    """The folders given, or every folder in ``dumps_dir`` (sorted by name)."""
    if dumps:
        return sorted((Path(d) for d in dumps), key=lambda p: p.name)
    if not dumps_dir.is_dir():
        raise PozytywkaError(
            f"the real dumps folder {dumps_dir} does not exist: give dump folders, "
            f"--dumps-dir or ${DUMPS_ENV}"
        )
    return sorted(p for p in dumps_dir.iterdir() if p.is_dir())


def measure(folder: Path) -> dict:
    """``{"values": statistics, "info": sizes}`` of the dump in ``folder``."""
    from ..realism.load import compact_log
    from ..realism.stats import all_statistics, plays_per_track_week

    c = compact_log(folder)
    values = all_statistics(c.events, c.track_genres, c.available)
    ppt = plays_per_track_week(c.events, c.available)
    info = {
        "first_week": c.first_week,
        "weeks": c.weeks,
        "listeners": c.listeners,
        "tracks": c.tracks,
        "genres": c.genres,
        "events": len(c.events),
        "plays_per_track_week": None if ppt is None else round(ppt, 4),
    }
    return {"values": values, "info": info}


def run(args: argparse.Namespace) -> int:
    from ..io import read_json, save_figure, write_json, write_text
    from ..realism.load import missing_files
    from ..realism.report import build_report, figure, markdown

    synthetic = Path(args.synthetic)
    if why := missing_files(synthetic):
        raise PozytywkaError(
            f"no synthetic dump at {synthetic} ({why}): run `dvc repro data/dvc.yaml:generate`"
        )
    real, skipped = {}, {}
    for folder in real_folders(list(args.dumps), Path(args.dumps_dir)):
        if why := missing_files(folder):
            why = why.replace(str(folder), folder.name)  # the reason, not where the folder is
            log.warning("skipping %s: %s", folder.name, why)
            skipped[folder.name] = why
            continue
        log.info("reading the real dump %s", folder)
        real[folder.name] = measure(folder)
    if not real:
        raise PozytywkaError("no real dump could be read: " + "; ".join(skipped.values()))
    log.info("reading the synthetic dump %s", synthetic)
    syn = measure(synthetic)
    before = None
    if Path(args.before).is_file():
        before = {r["statistic"]: r["synthetic"] for r in read_json(args.before)["statistics"]}
    report = build_report(syn, real, skipped, before)
    out = Path(args.out)
    write_json(out / "realism.json", report)
    write_text(out / "realism.md", markdown(report))
    save_figure(out / "realism.png", figure(report))
    print(markdown(report))
    return 0
