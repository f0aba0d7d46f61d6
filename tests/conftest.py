"""Shared test settings: deterministic hypothesis runs and the project root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

ROOT = Path(__file__).resolve().parents[1]

settings.register_profile(
    "default",
    derandomize=True,  # the same examples every run: CI failures reproduce locally
    deadline=None,  # no timing in tests; speed is measured by `make bench`
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture
def project_root() -> Path:
    return ROOT
