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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``pytest -n N --dist loadgroup`` (``make test``), every test that reads the
    session's tiny pipeline runs on one worker, so it is built once."""
    for item in items:
        if "tiny_pipeline" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("tiny_pipeline"))


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
