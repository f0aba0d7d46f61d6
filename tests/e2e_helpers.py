"""Helpers for the end-to-end tests: run commands in the tiny pipeline's repo.

The tiny pipeline itself is built once per test session by the ``tiny_pipeline``
fixture in ``conftest.py``; every e2e module reads it (and restores what it changes).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from pozytywka.synthetic.simulate import DENSE_ACTIVITY

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Small enough for a couple of minutes on 2 cores, large enough to train and evaluate.
# The "heavy" dirt profile: every variant real dumps have (BOMs, CRLF, malformed
# lines, case variants, sentinel ids, duplicate songs, partial first/last weeks...).
TINY = {
    "data": {
        "synthetic": {
            "users": 400,
            "artists": 60,
            "weeks": 14,
            "genres": 10,
            "dirt": "heavy",
            **DENSE_ACTIVITY,  # enough plays for the pipeline's mechanics
        }
    },
    "catboost": {"iterations": 60},
    "evaluate": {"eval_weeks": 2, "n_genres": 5},
    "playlists": {"n_genres": 3},
    "skips": {"eval_weeks": 2, "catboost": {"iterations": 60}},
}


def deep_update(base: dict, extra: dict) -> dict:
    """Merge ``extra`` into ``base`` in place (nested dicts merged, leaves replaced)."""
    for key, value in extra.items():
        if isinstance(value, dict):
            deep_update(base.setdefault(key, {}), value)
        else:
            base[key] = value
    return base


def run(args: list[str], cwd: Path) -> str:
    """Run a command with the project's virtualenv on PATH; assert it succeeds."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONHASHSEED": "0"}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, (
        f"{' '.join(args)} failed ({_status(result.returncode)}):\n{result.stdout}\n{result.stderr}"
    )
    return result.stdout + result.stderr


def _status(code: int) -> str:
    """``exit 1``, or ``killed by SIGKILL`` (a signal leaves no error line of its own)."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def commit(repo: Path, message: str) -> None:
    run(["git", "add", "-A"], repo)
    run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "--allow-empty",
            "-qm",
            message,
        ],
        repo,
    )


def stages_run(output: str) -> set[str]:
    """The stage names `dvc repro` says it ran."""
    return set(re.findall(r"Running stage '([^']+)'", output))
