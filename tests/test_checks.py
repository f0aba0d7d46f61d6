"""Pre-flight checks (pozytywka.checks, stage validate): hand-computed week counts."""

from __future__ import annotations

import json

import pytest

from pozytywka.checks import (
    apply_to_stage,
    check_dump_length,
    eval_weeks_record,
    fit_eval_weeks,
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


def test_a_dump_too_short_for_two_evaluated_weeks_is_rejected_with_the_params_named():
    params = params_from_dict({"evaluate": {"eval_weeks": 6}})
    # playlists: 4 train + 1 valid + MIN_EVAL_WEEKS (2) + 1 prediction week = 8
    check_dump_length(8, params, "dump")  # enough once eval_weeks is lowered to 2
    with pytest.raises(PozytywkaError) as err:
        check_dump_length(7, params, "data/raw/short")
    message = str(err.value)
    assert "\n" not in message
    assert "data/raw/short has 7 complete weeks, playlists needs at least 8" in message
    assert "evaluate.eval_weeks 6" in message
    assert "lowered to 2" in message


def test_the_first_product_short_of_weeks_is_named():
    params = params_from_dict(
        {"evaluate": {"eval_weeks": 1}, "skips": {"train_weeks": 8, "eval_weeks": 20}}
    )
    # playlists 4+1+1+1 = 7 fits in 10; skips 8 + 1 + 2 = 11 does not
    with pytest.raises(PozytywkaError, match="skips needs at least 11"):
        check_dump_length(10, params, "dump")


def test_eval_weeks_are_lowered_to_what_a_short_dump_holds():
    params = params_from_dict(
        {
            "split": {"min_train_weeks": 4, "valid_weeks": 1},
            "evaluate": {"eval_weeks": 6},
            "skips": {"train_weeks": 2, "valid_weeks": 1, "eval_weeks": 6},
            "recs": {"min_train_weeks": 4, "valid_weeks": 1, "eval_weeks": 4},
        }
    )
    # 8 weeks: playlists 8-4-1-1 = 2 (of 6); skips 8-2-1 = 5 (of 6); recs 8-4-1 = 3 (of 4)
    fitted, plan = fit_eval_weeks(8, params)
    assert {p.product: (p.asked, p.used) for p in plan} == {
        "playlists": (6, 2),
        "skips": (6, 5),
        "recs": (4, 3),
    }
    assert (fitted.evaluate.eval_weeks, fitted.skips.eval_weeks, fitted.recs.eval_weeks) == (
        2,
        5,
        3,
    )
    why = {p.product: p.why for p in plan}["recs"]
    assert why.startswith("recs.eval_weeks 4 lowered to 3: the dump has 8 complete weeks")
    # a long dump keeps every value, with no reason
    fitted, plan = fit_eval_weeks(30, params)
    assert fitted == params
    assert all(p.record() == {"asked": p.asked, "used": p.asked, "why": None} for p in plan)


def test_a_stage_runs_with_eval_weeks_fitted_to_the_counted_dump(tmp_path):
    params = params_from_dict({"data": {"source": "data/raw/short"}, "recs": {"eval_weeks": 4}})
    quality = tmp_path / "data_quality.json"
    assert apply_to_stage(params, quality) == params  # not counted yet
    assert eval_weeks_record(params, "recs") == {"asked": 4, "used": 4, "why": None}
    quality.write_text(json.dumps({"source": "data/raw/short", "window": {"complete_weeks": 8}}))
    fitted = apply_to_stage(params, quality)
    assert fitted.recs.eval_weeks == 3
    assert eval_weeks_record(params, "recs")["used"] == 3
    quality.write_text(json.dumps({"source": "other", "window": {"complete_weeks": 8}}))
    assert apply_to_stage(params, quality) == params  # another dump's account


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
    short = params_from_dict({"data": {"synthetic": {"weeks": 7}}})
    with pytest.raises(PozytywkaError, match="synthetic dump .* has 7 complete weeks"):
        validate.validate(short)
    tuesday = params_from_dict({"data": {"synthetic": {"start_date": "2024-01-02"}}})
    with pytest.raises(PozytywkaError, match="must be a Monday .* a Tuesday"):
        validate.validate(tuesday)
    missing = params_from_dict({"data": {"source": "data/raw/nope"}})
    with pytest.raises(PozytywkaError, match="'data/raw/nope' does not exist"):
        validate.validate(missing)
