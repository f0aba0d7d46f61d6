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


# ------------------------------------------------------------------ YAML 1.2 numbers (issue 9)


@pytest.mark.parametrize(
    ("param", "text", "expected"),
    [
        ("catboost.l2_leaf_reg", "1e-5", 0.00001),
        ("catboost.l2_leaf_reg", "1e-05", 0.00001),  # what `dvc exp run -S ...=1e-5` writes
        ("catboost.l2_leaf_reg", "1E5", 100000.0),
        ("catboost.learning_rate", "8e-2", 0.08),
        ("catboost.learning_rate", "+8E-2", 0.08),
        ("ab.split", ".5", 0.5),
        ("ab.alpha", "5.e-2", 0.05),
        ("catboost.iterations", "1_000", 1000),
        ("catboost.iterations", "1e3", 1000),  # a whole number written as a float
        ("catboost.iterations", "0x1F4", 500),
    ],
)
def test_numbers_are_read_with_yaml_1_2_rules_as_dvc_reads_them(tmp_path, param, text, expected):
    from dvc.utils.serialize import parse_yaml

    section, key = param.split(".")
    path = tmp_path / "params.yaml"
    path.write_text(f"{section}:\n  {key}: {text}\n", encoding="utf-8")
    value = getattr(getattr(load_params(path), section), key)
    assert value == pytest.approx(expected) and type(value) is type(expected)
    # and DVC itself (what `dvc params diff` shows) reads the same number
    assert parse_yaml(path.read_text(), str(path))[section][key] == pytest.approx(expected)


def test_a_value_set_by_dvc_exp_run_is_read_back(tmp_path):
    """`dvc exp run -S catboost.l2_leaf_reg=1e-5` parses the value as YAML and writes it back."""
    from dvc.utils.serialize import loads_yaml, modify_yaml

    path = tmp_path / "params.yaml"
    path.write_text("catboost:\n  l2_leaf_reg: 3.0\n", encoding="utf-8")
    with modify_yaml(path) as data:
        data["catboost"]["l2_leaf_reg"] = loads_yaml("1e-5")
    assert "l2_leaf_reg: 1e-05" in path.read_text()
    assert load_params(path).catboost.l2_leaf_reg == 1e-5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # strings to DVC's YAML 1.2 loader too: an error naming the param, never a guess
        ("1,000", "catboost.l2_leaf_reg must be a number >= 0, got '1,000'"),
        ("5e", "catboost.l2_leaf_reg must be a number >= 0, got '5e'"),
        # numbers to YAML, but never a valid param
        (".nan", "catboost.l2_leaf_reg must be a number >= 0, got nan"),
        (".inf", "catboost.l2_leaf_reg must be a number >= 0, got inf"),
    ],
)
def test_what_yaml_1_2_reads_as_text_or_non_finite_is_an_error(tmp_path, text, message):
    path = tmp_path / "params.yaml"
    path.write_text(f"catboost:\n  l2_leaf_reg: {text}\n", encoding="utf-8")
    with pytest.raises(ParamError) as info:
        load_params(path)
    assert str(info.value) == message


def test_a_whole_number_param_rejects_a_fraction(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("catboost:\n  iterations: 1.25e1\n", encoding="utf-8")
    with pytest.raises(ParamError, match=r"catboost\.iterations must be an integer .*got 12\.5"):
        load_params(path)
