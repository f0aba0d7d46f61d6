"""The atomic writer: a failed write leaves the old file intact and no temp files."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pozytywka.io import atomic_path, write_json, write_parquet


def test_failure_inside_the_write_keeps_the_previous_file(tmp_path):
    target = tmp_path / "out" / "metrics.json"
    write_json(target, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text('{"a": ')
        raise RuntimeError("stage crashed half way")
    assert json.loads(target.read_text()) == {"a": 1}
    assert sorted(p.name for p in target.parent.iterdir()) == ["metrics.json"]


def test_json_is_sorted_and_rejects_nan(tmp_path):
    target = tmp_path / "m.json"
    write_json(target, {"b": 1, "a": 2})
    assert target.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    with pytest.raises(ValueError):
        write_json(target, {"x": float("nan")})


def test_parquet_bytes_are_identical_for_identical_frames(tmp_path):
    frame = pd.DataFrame({"track_id": ["b", "a"], "score": [0.5, 1.5]})
    write_parquet(tmp_path / "one.parquet", frame)
    write_parquet(tmp_path / "two.parquet", frame.copy())
    assert (tmp_path / "one.parquet").read_bytes() == (tmp_path / "two.parquet").read_bytes()


def test_outputs_get_the_usual_file_mode_not_a_private_temp_mode(tmp_path):
    target = tmp_path / "m.json"
    write_json(target, {"a": 1})
    assert target.stat().st_mode & 0o044 == 0o044  # group and others can read it
