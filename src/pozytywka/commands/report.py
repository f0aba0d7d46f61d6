"""``pozytywka report --base REV --out FILE``: the pull-request report (issue 4).

Compares the workspace with git revision REV: params and metrics diffs (DVC),
baseline vs CatBoost and the A/B result before/after, which tracks entered or left
each published playlist, and before/after plots written to a folder next to FILE
(referenced relatively, so ``cml comment update --publish FILE`` uploads them).
Everything comes from files committed to git, so no DVC remote is needed.

Exit status: 0 when the report is written, 1 with ``--strict`` when it flags a
problem (a metric regression, or with ``--check-lock`` a stale committed dvc.lock:
the report is still written, so CI can post it and then fail), 2 for a usage error
(e.g. REV not fetched).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
from pathlib import Path

from .. import paths
from ..cli import UserPath
from ..config import parse_yaml, read_yaml
from ..errors import PozytywkaError
from ..io import write_text
from ..report.build import ReportInputs, Snapshot, load_snapshot, render_report
from ..report.compare import Thresholds, regressions
from ..report.dvcdiff import dvc_diff
from ..report.gitrev import read_at, resolve_revision
from ..report.lockcheck import LockDrift, lock_drift

log = logging.getLogger(__name__)

STAGE_PNGS = (
    ("Offline NDCG per week (evaluate stage)", paths.EVALUATE_REPORTS / "offline_by_week.png"),
    ("A/B arms (ab_test stage)", paths.AB_REPORTS / "arms.png"),
    (
        "Published playlists scored on their week (hindsight stage)",
        paths.HINDSIGHT_REPORTS / "history.png",
    ),
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="Markdown report comparing the workspace with a git revision (for PR comments)",
        description=__doc__.split("\n\n")[1],
    )
    p.add_argument("--base", required=True, help="git revision to compare with, e.g. origin/main")
    p.add_argument(
        "--out", required=True, type=Path, action=UserPath, help="Markdown file to write"
    )
    p.add_argument(
        "--offline-threshold",
        type=float,
        default=Thresholds.offline_drop,
        help="flag a CatBoost offline metric that drops by more than this (default %(default)s)",
    )
    p.add_argument(
        "--no-plots", action="store_true", help="text only (e.g. a PR body, where images break)"
    )
    p.add_argument(
        "--check-lock",
        action="store_true",
        help="compare the committed dvc.lock (HEAD) with the workspace one written by dvc repro "
        "(CI, after a fresh repro: a difference in code/params means a stale committed lock)",
    )
    p.add_argument(
        "--strict", action="store_true", help="exit 1 if a regression or stale dvc.lock is flagged"
    )
    p.set_defaults(func=run)


def _workspace_reader(root: Path):
    def read(path: str) -> bytes | None:
        file = root / path
        return file.read_bytes() if file.is_file() else None

    return read


def _alpha(root: Path) -> float:
    """ab.alpha from the workspace params (the decision rule of this PR)."""
    try:
        params = read_yaml(root / paths.PARAMS) or {}
        return float(params.get("ab", {}).get("alpha", Thresholds.alpha))
    except (PozytywkaError, OSError, TypeError, ValueError, AttributeError):
        return Thresholds.alpha


def _plots(before: Snapshot, after: Snapshot, out: Path) -> tuple[list, list]:
    """Render before/after PNGs and copy the stage PNGs into ``<out stem>_plots/``."""
    from ..report.plots import plot_ab_arms, plot_offline_by_week

    folder = out.parent / f"{out.stem}_plots"
    if folder.exists():
        shutil.rmtree(folder)  # no stale images from an earlier run
    folder.mkdir(parents=True)
    rel = Path(os.path.relpath(folder, out.parent)).as_posix()
    plots, stage = [], []
    if before.offline_by_week is not None or after.offline_by_week is not None:
        k = (after.offline or before.offline or {}).get("k", "k")
        plot_offline_by_week(
            before.offline_by_week, after.offline_by_week, k, folder / "offline.png"
        )
        plots.append((f"Offline NDCG@{k} per week, base vs this PR", f"{rel}/offline.png"))
    if before.ab is not None or after.ab is not None:
        plot_ab_arms(before.ab, after.ab, folder / "ab_arms.png")
        plots.append(("A/B arms, base vs this PR", f"{rel}/ab_arms.png"))
    for title, png in STAGE_PNGS:
        if png.is_file():
            shutil.copyfile(png, folder / png.name)
            stage.append((title, f"{rel}/{png.name}"))
    return plots, stage


def _check_lock(root: Path, notes: list[str]) -> LockDrift | None:
    """Committed (HEAD) vs workspace dvc.lock; only meaningful right after ``dvc repro``."""
    committed = read_at("HEAD", "dvc.lock", root)
    fresh = root / "dvc.lock"
    if not fresh.is_file():
        notes.append("No `dvc.lock` in the workspace: run `dvc repro` before checking it.")
        return None
    if committed is None:
        notes.append("`dvc.lock` is not committed yet: commit it with the results of `dvc repro`.")
        return None
    return lock_drift(
        parse_yaml(committed.decode("utf-8"), "dvc.lock (HEAD)"),
        parse_yaml(fresh.read_text(encoding="utf-8"), fresh),
    )


def run(args: argparse.Namespace) -> int:
    root = Path.cwd()
    if not (root / "dvc.yaml").is_file():
        raise PozytywkaError("run `pozytywka report` from the project root (where dvc.yaml is)")
    sha = resolve_revision(args.base, root)
    thresholds = Thresholds(offline_drop=args.offline_threshold, alpha=_alpha(root))
    before = load_snapshot(lambda p: read_at(sha, p, root), f"base {args.base}")
    after = load_snapshot(_workspace_reader(root), "workspace")

    notes = []
    if after.offline is None and after.ab is None and after.playlists is None:
        notes.append("The workspace has no pipeline results: run `dvc repro` before the report.")
    lock = _check_lock(root, notes) if args.check_lock else None

    problems = regressions(before.offline, after.offline, before.ab, after.ab, thresholds)
    if lock is not None and lock.stale:
        problems.append(f"committed dvc.lock is stale for {len(lock.stale)} stage(s)")
    if lock is not None and lock.outs_changed:
        problems.append("outputs not reproduced byte for byte: " + ", ".join(lock.outs_changed))

    log.info("dvc params diff / metrics diff against %s (%s)", args.base, sha[:8])
    plots, stage_plots = ([], []) if args.no_plots else _plots(before, after, args.out)
    inputs = ReportInputs(
        base=args.base,
        base_sha=sha,
        before=before,
        after=after,
        params_diff=dvc_diff("params", args.base, root),
        metrics_diff=dvc_diff("metrics", args.base, root),
        lock=lock,
        problems=problems,
        thresholds=thresholds,
        plots=plots,
        stage_plots=stage_plots,
        notes=notes,
    )
    write_text(args.out, render_report(inputs))
    log.info("report written to %s (%d problem(s) flagged)", args.out, len(problems))
    for p in problems:
        log.warning("%s", p)
    return 1 if args.strict and problems else 0
