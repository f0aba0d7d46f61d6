"""``pozytywka retrain``: one weekly retraining, the same steps locally and in CI.

1. From a clean checkout of the base revision (``--base``, default HEAD), copy the
   base's published playlists, backtest and A/B headline to
   ``retrain/previous.json`` and its hindsight history to
   ``retrain/history.csv``: the committed inputs of the ``hindsight`` stage.
2. Add the week: on the synthetic service, advance ``data.synthetic.weeks`` by one
   (or to the horizon whose newest week is ``--week``); on a real dump, ``dvc update``
   an imported folder or re-``dvc add`` a tracked one. A week that adds no data
   says so and stops (exit 0, nothing committed).
3. ``dvc repro``: only the stages one more week changes rerun.
4. Commit to ``retrain/<ISO week>``, rebuilt from the base. The week is the newest
   the dump holds: on the synthetic service the horizon's last week (known before
   the run, so CI can skip a week whose PR exists), on a real dump its newest
   complete week.
   The same week retrained again from the same base gives the same tree: the
   existing branch commit is kept, so a rerun changes nothing.

Opening the pull request is the workflow's part (``.github/workflows/retrain.yaml``).
With ``GITHUB_OUTPUT`` set, ``week``, ``branch`` and ``changed`` are written there.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
from pathlib import Path

import pandas as pd
import yaml

from .. import paths
from ..errors import PozytywkaError
from ..experiment.simulate import is_synthetic_source
from ..io import read_json, write_json, write_text
from ..report.gitrev import read_at, resolve_revision
from ..retrain.hindsight import HISTORY_COLUMNS, iso_week
from ..retrain.plan import (
    newest_week,
    parse_iso_week,
    previous_results,
    set_synthetic_weeks,
    target_horizon,
)

log = logging.getLogger(__name__)

#: What a retraining commits (everything else a repro writes is DVC-cached or ignored).
COMMITTED = ["params.yaml", "dvc.lock", "metrics", "reports", "retrain"]
#: the ``generate`` stage's lock (``data/dvc.yaml``): committed when the dump is synthetic
DATA_LOCK = "data/dvc.lock"


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "retrain",
        help="weekly retraining: add a week of data, dvc repro, commit to retrain/<ISO week>",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("--base", default="HEAD", help="revision to retrain from (default HEAD)")
    p.add_argument(
        "--week",
        default=None,
        help="synthetic service: retrain through this ISO week, e.g. 2024-W31 "
        "(default: one more week than the base)",
    )
    p.add_argument(
        "--plan", action="store_true", help="only say which week and branch, change nothing"
    )
    p.set_defaults(func=run)


def _run(args: list[str], root: Path, capture: bool = True) -> str:
    result = subprocess.run(args, cwd=root, capture_output=capture, text=True, check=False)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip().splitlines()
        raise PozytywkaError(f"`{' '.join(args)}` failed" + (f": {detail[-1]}" if detail else ""))
    return result.stdout if capture else ""


def _git(root: Path, *args: str) -> str:
    return _run(["git", *args], root).strip()


def _outputs(**values: str) -> None:
    for key, value in values.items():
        print(f"{key}={value}")
    target = os.environ.get("GITHUB_OUTPUT")
    if target:
        with open(target, "a", encoding="utf-8") as out:
            out.writelines(f"{k}={v}\n" for k, v in values.items())


def _params(root: Path) -> dict:
    return yaml.safe_load((root / paths.PARAMS).read_text(encoding="utf-8")) or {}


def _write_previous(root: Path, base_sha: str) -> None:
    """Step 1: the base's results, committed as the hindsight stage's inputs."""

    def read(path: str) -> bytes | None:
        return read_at(base_sha, path, root)

    write_json(root / paths.RETRAIN_PREVIOUS, previous_results(read, base_sha))
    history = read(paths.HINDSIGHT_HISTORY.as_posix())
    text = history.decode() if history else ",".join(HISTORY_COLUMNS) + "\n"
    write_text(root / paths.RETRAIN_HISTORY, text)


def _advance_real(root: Path, source: str, base_sha: str) -> bool:
    """Step 2 on a real dump: refresh the DVC-tracked folder; True when its data changed."""
    pointer = f"{source.rstrip('/')}.dvc"
    if not (root / pointer).is_file():
        raise PozytywkaError(
            f"{source} is not tracked by DVC: `dvc add {source}` (or `dvc import-url`) and "
            "commit it first, so each retraining records which data it used"
        )
    spec = yaml.safe_load((root / pointer).read_text(encoding="utf-8")) or {}
    if spec.get("deps"):  # an import: fetch the source's newest version
        _run(["dvc", "update", pointer], root)
    else:  # a tracked folder the new week was copied into
        _run(["dvc", "add", source], root)
    before = read_at(base_sha, pointer, root)
    return before != (root / pointer).read_bytes()


def run(args: argparse.Namespace) -> int:
    root = Path.cwd()
    if not (root / "dvc.yaml").is_file():
        raise PozytywkaError("run `pozytywka retrain` from the project root (where dvc.yaml is)")
    if args.week is not None:
        parse_iso_week(args.week)  # a week the ISO calendar lacks stops here, with one line
    base_sha = resolve_revision(args.base, root)
    params = _params(root)
    source = str(params.get("data", {}).get("source", paths.RAW_SYNTHETIC))
    synthetic = is_synthetic_source(root / source, root / paths.RAW_SYNTHETIC)
    if synthetic:
        syn = params["data"]["synthetic"]
        weeks = int(syn["weeks"])
        target = target_horizon(str(syn["start_date"]), weeks, args.week)
        week = iso_week(newest_week(str(syn["start_date"]), target))
        if target <= weeks:
            print(
                f"{week} is already in the data (horizon {weeks} weeks, through "
                f"{iso_week(newest_week(str(syn['start_date']), weeks))}): it adds no data, "
                "nothing to retrain"
            )
            _outputs(week=week, branch=f"retrain/{week}", changed="false")
            return 0
        if args.plan:
            _outputs(week=week, branch=f"retrain/{week}", changed="true")
            return 0
    elif args.plan:
        print("a real dump: the week is known once the data is updated")
        _outputs(week="", branch="", changed="unknown")
        return 0

    if _git(root, "status", "--porcelain", "--untracked-files=no"):
        raise PozytywkaError("the working tree has uncommitted changes: commit or stash them")
    # always detached: the commit must never land on the base branch itself
    _git(root, "checkout", "-q", "--detach", base_sha)
    _write_previous(root, base_sha)
    if synthetic:
        text = (root / paths.PARAMS).read_text(encoding="utf-8")
        write_text(root / paths.PARAMS, set_synthetic_weeks(text, target))
        log.info("horizon %d -> %d weeks: adds %s", weeks, target, week)
    elif not _advance_real(root, source, base_sha):
        _git(root, "checkout", "-q", "--", str(paths.RETRAIN_INPUTS))
        print(f"{source} is unchanged since the base: no new week of data, nothing to retrain")
        _outputs(week="", branch="", changed="false")
        return 0

    _run(["dvc", "repro"], root, capture=False)
    if not synthetic:  # the newest complete week of the refreshed dump
        week = iso_week(pd.Timestamp(read_json(root / paths.DRIFT_METRICS)["week_start"]))
    branch = f"retrain/{week}"
    pointer = [DATA_LOCK] if synthetic else [f"{source.rstrip('/')}.dvc"]
    _git(root, "add", "-A", "--", *COMMITTED, *pointer)
    tree = _git(root, "write-tree")
    existing = _commit_of(root, f"refs/heads/{branch}")
    if existing and _same(root, existing, tree, base_sha):
        _git(root, "reset", "-q", "--soft", existing)
        _git(root, "checkout", "-q", branch)
        print(f"{branch} already holds this retraining ({existing[:8]}): nothing new")
    else:
        _git(root, "commit", "-q", "-m", f"Weekly retraining {week}: one more week of data")
        _git(root, "checkout", "-q", "-B", branch)
        rebuilt = f", rebuilt from {base_sha[:8]} (was {existing[:8]})" if existing else ""
        print(f"committed the retraining of {week} to {branch}{rebuilt}")
    _outputs(week=week, branch=branch, changed="true")
    return 0


def _commit_of(root: Path, rev: str) -> str:
    """The commit ``rev`` names, or "" when there is none (e.g. no such branch yet)."""
    out = subprocess.run(
        ["git", "rev-parse", "--verify", "--quiet", rev], cwd=root, capture_output=True, text=True
    )
    return out.stdout.strip()


def _same(root: Path, commit: str, tree: str, base_sha: str) -> bool:
    """The existing branch is this retraining: one commit on the base, with the same tree."""
    parent = _commit_of(root, f"{commit}^")
    return parent == base_sha and _git(root, "rev-parse", f"{commit}^{{tree}}") == tree
