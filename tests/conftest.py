"""Shared test settings: deterministic hypothesis runs, the project root, the tiny pipeline."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Tests marked `needs("java")` / `needs("node")`: a skip fails CI and is loud on a laptop.
from needs_tools import (  # noqa: F401  (pytest finds hooks by name in conftest)
    pytest_configure,
    pytest_runtest_logreport,
    pytest_runtest_makereport,
    pytest_terminal_summary,
)

ROOT = Path(__file__).resolve().parents[1]

settings.register_profile(
    "default",
    derandomize=True,  # the same examples every run: CI failures reproduce locally
    deadline=None,  # no timing in tests; speed is measured by `make bench`
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


#: Test modules that read the session's tiny pipeline (by the fixture's name in their text).
TINY_PIPELINE_MODULES = frozenset(
    p.name for p in Path(__file__).parent.glob("test_*.py") if "tiny_pipeline" in p.read_text()
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """Under ``pytest -n N --dist loadgroup`` (``make test``), every test of a module that
    reads the session's tiny pipeline runs on one worker, so it is built once; every
    other test is scheduled on its own, as ``load`` does.

    xdist's own ``xdist_group`` marks do not work with pytest 9 (xdist 3.8 renames the
    test by setting ``item._nodeid``, which pytest 9 no longer reads: each worker then
    built the tiny pipeline), so the grouping is done here, in the scheduler.
    """
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class TinyPipelineOnOneWorker(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
            return "tiny_pipeline" if module in TINY_PIPELINE_MODULES else nodeid

    return TinyPipelineOnOneWorker(config, log)


@pytest.fixture
def project_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tiny_pipeline(tmp_path_factory) -> tuple[Path, str]:
    """The real pipeline, built once per session: ``dvc repro`` in a temporary git repo.

    The repo is copied as a fresh clone would see it (files git tracks or would
    track; no dvc.lock, metrics or reports: all regenerated) with the ``TINY``
    params of ``e2e_helpers``, committed, then reproduced. Returns ``(repo, output
    of dvc repro)``. Tests that change the repo restore it before they end.
    """
    import yaml

    from e2e_helpers import TINY, commit, deep_update, run
    from pozytywka.bench.runner import copy_like_a_clone

    repo = tmp_path_factory.mktemp("e2e")
    copy_like_a_clone(ROOT, repo)
    params = yaml.safe_load((repo / "params.yaml").read_text())
    (repo / "params.yaml").write_text(yaml.safe_dump(deep_update(params, TINY), sort_keys=False))
    run(["git", "init", "-q"], repo)
    commit(repo, "tiny")
    output = run(["dvc", "repro"], repo)
    return repo, output
