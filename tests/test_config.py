"""Params: defaults that match params.yaml, and one clear line for each bad value."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from pozytywka.config import Params, load_params, params_from_dict
from pozytywka.errors import ParamError


def test_committed_params_yaml_is_valid_and_matches_the_dataclass_defaults(project_root):
    loaded = load_params(project_root / "params.yaml")
    assert loaded == Params(), "params.yaml and config.py defaults drifted apart"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"playlists": {"max_size": 25}},
            "playlists.max_size must be an integer in 10..20, got 25",
        ),
        ({"playlists": {"min_size": 9}}, "playlists.min_size must be an integer in 10..20, got 9"),
        ({"playlists": {"model": "xgboost"}}, "playlists.model must be one of"),
        ({"playlists": {"min_size": 15, "max_size": 12}}, "must not exceed playlists.max_size"),
        ({"catboost": {"depth": "deep"}}, "catboost.depth must be an integer"),
        ({"catboost": {"depth": True}}, "catboost.depth must be an integer"),
        ({"ab": {"split": 1.5}}, "ab.split must be a number in 0.01..0.99"),
        ({"data": {"synthetic": {"dirt": "muddy"}}}, "data.synthetic.dirt must be one of"),
        ({"evaluate": {"kk": 3}}, "evaluate.kk is not a known param"),
        ({"bogus": {}}, "unknown section 'bogus'"),
        ({"playlists": [1, 2]}, "playlists must be a mapping"),
    ],
)
def test_bad_values_name_the_param_and_the_allowed_range(raw, message):
    with pytest.raises(ParamError, match=message.replace(".", r"\.").replace("(", r"\(")):
        params_from_dict(raw)


def test_integers_are_accepted_where_numbers_are_expected():
    params = params_from_dict({"catboost": {"learning_rate": 1}, "ab": {"alpha": 0.01}})
    assert params.catboost.learning_rate == 1.0
    assert isinstance(params.catboost.learning_rate, float)


def test_invalid_yaml_is_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("playlists: [unclosed\n")
    with pytest.raises(ParamError) as info:
        load_params(path)
    assert "\n" not in str(info.value)


def test_cli_prints_one_line_and_exits_2_for_a_bad_param(tmp_path):
    raw = {"playlists": {"max_size": 30}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    result = subprocess.run(
        [sys.executable, "-m", "pozytywka.cli", "playlists"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "pozytywka playlists: error: playlists.max_size must be an integer in 10..20, got 30"
    ]
    assert "Traceback" not in result.stderr
