"""``pozytywka scoreboard DUMP...``: the three products on real dumps, side by side.

For each dump folder (default: every folder of ``--dumps-dir``), and for a dirty copy
of it (``+dirt``: null ids, junk lines, a BOM, sentinel ids; :mod:`pozytywka.scoreboard.dirt`),
the project is copied to a throwaway repository under ``--workdir`` and ``dvc repro``
runs there with the default params (:mod:`pozytywka.scoreboard.runner`): the same
stage code a user runs. Then every model is put next to every baseline and the
oracle, per dump and product (:mod:`pozytywka.scoreboard.collect`), and
``reports/scoreboard/{scoreboard.md,scoreboard.json,scoreboard.png}`` are written.

``--collect-only`` rebuilds the report from the runs already in ``--workdir``.
A dump that cannot run (no tracks file, too short) is a row with its one-line reason.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

from .. import paths
from ..errors import PozytywkaError
from ..scoreboard import DEFAULT_DUMPS
from ..scoreboard.collect import collect_run, scoreboard_document
from ..scoreboard.dirt import dirty_copy
from ..scoreboard.render import save_plot, scoreboard_markdown
from ..scoreboard.runner import RunResult, prepare, repro

log = logging.getLogger(__name__)

OUT = paths.REPORTS / "scoreboard"
RESULT = "scoreboard_run.json"  # per dump, in its throwaway repo: how the run went


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "scoreboard",
        help="run the pipeline on real dumps and compare every model with every baseline",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("dumps", nargs="*", type=Path, help="dump folders (default: --dumps-dir/*)")
    p.add_argument(
        "--dumps-dir",
        type=Path,
        default=DEFAULT_DUMPS,
        help="folder of dump folders used when none is given (default: %(default)s)",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path("/tmp/pozytywka-scoreboard"),
        help="where the throwaway copies run (default: %(default)s)",
    )
    p.add_argument("--out", type=Path, default=OUT, help="report folder (default: %(default)s)")
    p.add_argument("--no-dirt", action="store_true", help="skip the dirty copy of each dump")
    p.add_argument(
        "--collect-only", action="store_true", help="report on the runs already in --workdir"
    )
    p.set_defaults(func=run)


def dump_folders(given: list[Path], dumps_dir: Path) -> list[Path]:
    """The dumps to score: those given, else every folder of ``dumps_dir`` (sorted)."""
    if given:
        folders = [Path(d).absolute() for d in given]
    else:
        if not dumps_dir.is_dir():
            raise PozytywkaError(f"--dumps-dir {dumps_dir} is not a folder: name the dumps")
        folders = sorted(p.absolute() for p in dumps_dir.iterdir() if p.is_dir())
    for f in folders:
        if not f.exists():
            raise PozytywkaError(f"{f} does not exist")
        if not f.is_dir():
            raise PozytywkaError(
                f"{f} is not a folder (a dump is a folder of .jsonl/.jsonl.gz files)"
            )
    names = [f.name for f in folders]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise PozytywkaError(
            f"two dump folders are named {', '.join(twice)}: each dump's run is named by its "
            "folder, so rename (or copy) one of them"
        )
    if not folders:
        raise PozytywkaError(f"no dump folders in {dumps_dir}")
    return folders


def _save_result(result: RunResult) -> None:
    record = {
        "dump": result.dump,
        "rc": result.rc,
        "seconds": round(result.seconds, 1),
        "peak_gib": round(result.peak_gib, 2),
        "stages_run": result.stages_run,
        "error": result.error,
    }
    (result.workdir / RESULT).write_text(json.dumps(record, indent=2) + "\n")


def _run_one(root: Path, dump: Path, name: str, workdir: Path) -> None:
    log.info("%s: copying the project to %s", name, workdir / name)
    repo = prepare(root, dump, workdir, name)
    log.info("%s: dvc repro (log: %s)", name, repo / "repro.log")
    result = repro(repo, repo / "repro.log", progress=lambda s: log.info("%s: stage %s", name, s))
    _save_result(result)
    if result.rc == 0:
        log.info("%s: done in %.0f s, peak %.2f GiB", name, result.seconds, result.peak_gib)
    else:
        log.warning("%s: stopped (%s)", name, result.error)


def run(args: argparse.Namespace) -> int:
    root = paths.find_root(Path.cwd())
    if root is None:
        raise PozytywkaError("run it inside the project (the folder holding dvc.yaml)")
    folders = dump_folders(args.dumps, args.dumps_dir)
    names: list[tuple[str, Path]] = []
    for folder in folders:
        names.append((folder.name, folder))
        if not args.no_dirt:
            names.append((f"{folder.name}+dirt", folder))
    workdir = args.workdir.absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    if not args.collect_only:
        for name, folder in names:
            source = folder
            if name.endswith("+dirt"):
                source = workdir / "dirty" / folder.name
                if source.exists():
                    shutil.rmtree(source)
                dirty_copy(folder, source)
            _run_one(root, source, name, workdir)
    runs = []
    for name, _ in names:
        repo = workdir / name
        if not (repo / RESULT).exists():
            log.warning("%s holds no finished run: left out of the report", repo)
            continue
        runs.append(collect_run(repo, json.loads((repo / RESULT).read_text())))
    if not runs:
        raise PozytywkaError(f"{workdir} holds no finished run: run without --collect-only")
    doc = scoreboard_document(runs)
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    (out / "scoreboard.json").write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    (out / "scoreboard.md").write_text(scoreboard_markdown(doc))
    save_plot(doc, out / "scoreboard.png")
    log.info("wrote %s", out / "scoreboard.md")
    return 0
