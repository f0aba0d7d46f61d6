"""The trusted DVC loop on the real pipeline (tiny scale): a failed experiment breaks
nothing, and a one-param experiment is one params line and a narrow `dvc exp show`.

Each failure is a real `dvc exp run -S ...` in the session's tiny repo: it must stop
with the stage's one-line error *before* DVC removes any output (the ``validate``
stage runs first; ``ingest`` keeps its outputs when it rejects a dump), so every file
under data/, models/, metrics/ and reports/ is byte for byte what it was. The
recovery the README gives (``git show HEAD:params.yaml > params.yaml``) then leaves ``dvc status``
clean.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from e2e_helpers import BIN, commit, run, stages_run

pytestmark = pytest.mark.e2e

WATCHED = ("data", "models", "metrics", "reports")


def _fingerprint(repo: Path) -> dict[str, str]:
    """md5 of every file the pipeline reads or writes (and of dvc.lock)."""
    out = {"dvc.lock": hashlib.md5((repo / "dvc.lock").read_bytes()).hexdigest()}
    for top in WATCHED:
        for path in sorted((repo / top).rglob("*")):
            if path.is_file() and "raw/short" not in path.as_posix():
                out[path.relative_to(repo).as_posix()] = hashlib.md5(path.read_bytes()).hexdigest()
    return out


def _run_failing(args: list[str], repo: Path) -> str:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONHASHSEED": "0"}
    result = subprocess.run(args, cwd=repo, env=env, capture_output=True, text=True)
    assert result.returncode != 0, f"{' '.join(args)} should have failed:\n{result.stdout}"
    return result.stdout + result.stderr


def _restore_params(repo: Path) -> None:
    """``git show HEAD:params.yaml > params.yaml``: after a workspace ``dvc exp run`` git's
    index holds the committed blob with the new file's stat, so ``git checkout`` would
    take the changed file as unchanged and leave it."""
    (repo / "params.yaml").write_text(run(["git", "show", "HEAD:params.yaml"], repo))


@pytest.fixture(scope="module")
def repo(tiny_pipeline) -> Path:
    repo, _ = tiny_pipeline
    commit(repo, "results of the tiny run")  # HEAD holds every git-tracked output
    return repo


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("playlists.max_size=25", "pozytywka validate: error: playlists.max_size must be"),
        ("catboost.depth=abc", "pozytywka validate: error: catboost.depth must be an integer"),
        ("data.source=data/raw/nope", "data.source 'data/raw/nope' does not exist"),
        ("split.min_train_weeks=40", "complete weeks, playlists needs at least"),  # too short
    ],
)
def test_a_failed_experiment_keeps_every_output(repo, override, message):
    before = _fingerprint(repo)
    try:
        output = _run_failing(["dvc", "exp", "run", "-S", override], repo)
        assert message in output, output
        assert "Running stage 'validate'" in output
        assert "Running stage 'ingest'" not in output  # nothing after the check ran
        assert _fingerprint(repo) == before
    finally:
        _restore_params(repo)  # the README's recovery
    assert "up to date" in run(["dvc", "status"], repo)
    assert _fingerprint(repo) == before


def test_a_dump_too_short_is_rejected_by_ingest_before_it_writes(repo):
    """A new real dump: ``validate`` cannot count its weeks yet, ``ingest`` does, and DVC
    keeps ingest's outputs (``persist: true``) when it rejects the dump."""
    from pozytywka.config import load_params
    from pozytywka.stages.generate import generate_dump

    params = load_params(repo / "params.yaml")
    short = params.__class__(
        **{
            **params.__dict__,
            "data": params.data.__class__(
                **{
                    **params.data.__dict__,
                    "synthetic": params.data.synthetic.__class__(
                        **{**params.data.synthetic.__dict__, "weeks": 6}
                    ),
                }
            ),
        }
    )
    generate_dump(short, repo / "data/raw/short")
    before = _fingerprint(repo)
    try:
        output = _run_failing(["dvc", "exp", "run", "-S", "data.source=data/raw/short"], repo)
        assert re.search(
            r"pozytywka ingest: error: data/raw/short has \d complete weeks, "
            r"playlists needs at least \d",
            output,
        ), output
        outputs = {k: v for k, v in before.items() if k != "dvc.lock"}
        # validate passed (it cannot count a new dump's weeks) and DVC recorded it in
        # dvc.lock; ingest stopped before writing, and DVC kept its outputs (persist)
        assert {k: v for k, v in _fingerprint(repo).items() if k != "dvc.lock"} == outputs
    finally:
        _restore_params(repo)
        for path in sorted((repo / "data/raw/short").rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        (repo / "data/raw/short").rmdir()
    # the README's recovery: `dvc repro` reruns validate alone, and dvc.lock is as it was
    assert stages_run(run(["dvc", "repro"], repo)) == {"validate"}
    assert _fingerprint(repo) == before
    assert "up to date" in run(["dvc", "status"], repo)


def test_one_param_experiment_is_one_params_line_and_a_narrow_exp_show(repo):
    """`dvc exp run -S catboost.depth=8`: one line of params.yaml changes, only the
    stages that read it rerun, and `dvc exp show --only-changed` fits 160 columns."""
    params_before = (repo / "params.yaml").read_text()
    try:
        output = run(["dvc", "exp", "run", "-S", "catboost.depth=8", "-n", "deep"], repo)
        ran = stages_run(output)
        assert ran == {
            "validate",
            "train",
            "evaluate",
            "evaluate_sets",  # the backtest's predictions changed
            "playlists",
            "ab_peeking",  # the peeking simulation serves the published playlists
            "ab_test",
            "headline",
        }
        diff = run(["git", "diff", "-U0", "--", "params.yaml"], repo)
        changed = [
            ln for ln in diff.splitlines() if ln[:1] in "+-" and ln[:3] not in ("+++", "---")
        ]
        assert changed == ["-  depth: 6", "+  depth: 8"], diff
        env_cols = {**os.environ, "COLUMNS": "160"}
        shown = subprocess.run(
            [str(BIN / "dvc"), "exp", "show", "--only-changed", "--no-pager"],
            cwd=repo,
            env=env_cols,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        lines = shown.splitlines()
        assert max(len(line) for line in lines) <= 160, shown
        header = next(line for line in lines if "Experiment" in line).split()
        # every changed headline figure and the param, whole; DVC folds the changed
        # dependencies (intermediate files' hashes) into one last "…" column
        assert {"ndcg@10", "diff", "diff_lo", "diff_hi", "catboost.depth"} <= set(header), shown
        assert all("…" not in cell for line in lines for cell in line.split()[:-1]), shown
        assert "deep" in shown
        metrics = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]["headline"]
        assert metrics["metrics"] == [{"metrics/headline": {"cache": False}}]
    finally:
        run(["git", "checkout", "--", "."], repo)
        _restore_params(repo)
        run(["dvc", "checkout", "--force"], repo)
        run(["dvc", "exp", "remove", "--all-commits"], repo)
    assert (repo / "params.yaml").read_text() == params_before
    assert "up to date" in run(["dvc", "status"], repo)
