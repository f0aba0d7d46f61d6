"""Pre-flight checks (pozytywka.checks, stage validate): hand-computed week counts."""

from __future__ import annotations

import json

import pytest

from pozytywka.checks import (
    check_dump_length,
    recorded_complete_weeks,
    required_complete_weeks,
    weeks_needed,
)
from pozytywka.config import params_from_dict
from pozytywka.errors import PozytywkaError


def test_weeks_needed_per_product_by_hand():
    params = params_from_dict(
        {
            "split": {"min_train_weeks": 4, "valid_weeks": 1},
            "evaluate": {"eval_weeks": 6},
            "skips": {"train_weeks": 2, "valid_weeks": 1, "eval_weeks": 6},
            "recs": {"min_train_weeks": 4, "valid_weeks": 1, "eval_weeks": 4},
        }
    )
    need = {n.product: n.weeks for n in weeks_needed(params)}
    # playlists: 4 + 1 + 6 labelled weeks + the prediction week; skips 2+1+6; recs 4+1+4
    assert need == {"playlists": 12, "skips": 9, "recs": 9}
    assert required_complete_weeks(4, 1, 6) == 12


def test_a_dump_one_week_short_is_rejected_with_the_params_named():
    params = params_from_dict({"evaluate": {"eval_weeks": 6}})
    check_dump_length(12, params, "dump")  # exactly enough: no error
    with pytest.raises(PozytywkaError) as err:
        check_dump_length(11, params, "data/raw/short")
    message = str(err.value)
    assert "\n" not in message
    assert "data/raw/short has 11 complete weeks, playlists needs 12" in message
    assert "evaluate.eval_weeks 6" in message


def test_the_first_product_short_of_weeks_is_named():
    params = params_from_dict({"evaluate": {"eval_weeks": 1}, "skips": {"eval_weeks": 20}})
    with pytest.raises(PozytywkaError, match="skips needs 23"):
        check_dump_length(10, params, "dump")


def test_recorded_weeks_only_for_the_same_source(tmp_path):
    path = tmp_path / "data_quality.json"
    assert recorded_complete_weeks(path, "a") is None  # no account yet
    path.write_text(json.dumps({"source": "a", "window": {"complete_weeks": 30}}))
    assert recorded_complete_weeks(path, "a") == 30
    assert recorded_complete_weeks(path, "b") is None
    path.write_text("{not json")
    assert recorded_complete_weeks(path, "a") is None


def test_validate_stage_checks_the_synthetic_weeks_and_real_folders(tmp_path, monkeypatch):
    from pozytywka.stages import validate

    monkeypatch.chdir(tmp_path)
    ok = params_from_dict({"data": {"synthetic": {"weeks": 30}}})
    assert "30 weeks" in validate.validate(ok)
    short = params_from_dict({"data": {"synthetic": {"weeks": 8}}})
    with pytest.raises(PozytywkaError, match="synthetic dump .* has 8 complete weeks"):
        validate.validate(short)
    tuesday = params_from_dict({"data": {"synthetic": {"start_date": "2024-01-02"}}})
    with pytest.raises(PozytywkaError, match="must be a Monday .* a Tuesday"):
        validate.validate(tuesday)
    missing = params_from_dict({"data": {"source": "data/raw/nope"}})
    with pytest.raises(PozytywkaError, match="'data/raw/nope' does not exist"):
        validate.validate(missing)
