"""The real-data scoreboard (pozytywka.scoreboard): hand-computed comparisons, dirt, the runner."""

from __future__ import annotations

import gzip
import json
import subprocess

import numpy as np
import pandas as pd
import pytest

from pozytywka.commands.scoreboard import dump_folders
from pozytywka.errors import PozytywkaError
from pozytywka.scoreboard.collect import Spec, collect_run, compare, mean_ci, weekly_values
from pozytywka.scoreboard.dirt import BOM, dirty_copy, dirty_lines
from pozytywka.scoreboard.render import scoreboard_markdown
from pozytywka.scoreboard.runner import last_error, prepare, set_source, stages_in_log

SPEC = Spec("p", "NDCG@10", "t.csv", ("base_a", "base_b"), column="{model}_ndcg")


def test_mean_and_t_interval_by_hand():
    mean, lo, hi = mean_ci(np.array([1.0, 3.0]))
    # mean 2, sd sqrt(2), t(0.975, 1) = 12.7062: half = 12.7062 * sqrt(2) / sqrt(2)
    assert mean == 2.0
    assert lo == pytest.approx(2.0 - 12.7062047, abs=1e-6)
    assert hi == pytest.approx(2.0 + 12.7062047, abs=1e-6)
    assert mean_ci(np.array([0.5])) == (0.5, None, None)  # one week: no interval
    assert mean_ci(np.array([np.nan])) == (None, None, None)


def test_the_strongest_baseline_is_the_bar_and_the_verdict_follows_the_interval():
    wide = pd.DataFrame(
        {
            "base_a": [0.10, 0.10, 0.10],
            "base_b": [0.20, 0.30, 0.25],  # the strongest baseline (mean 0.25)
            "model": [0.30, 0.40, 0.35],  # +0.10 every week
        },
        index=pd.Index(["w1", "w2", "w3"], name="week_start"),
    )
    out = compare(wide, SPEC)
    assert out["best_baseline"] == "base_b"
    assert out["best_model"] == "model"
    assert out["diff"] == pytest.approx(0.1)
    assert out["diff_ci_low"] == pytest.approx(0.1)  # no spread: a zero-width interval
    assert out["weeks_model_better"] == 3
    assert out["verdict"] == "model better"
    # against base_a alone the model would look twice as good; base_b is the bar
    wide["model"] = [0.30, 0.20, 0.26]  # diffs +0.10, -0.10, +0.01: the interval holds 0
    out = compare(wide, SPEC)
    assert out["verdict"] == "no signal"
    assert out["weeks_model_better"] == 2


def test_lower_is_better_and_chance():
    wide = pd.DataFrame({"base_a": [0.5, 0.6], "model": [0.4, 0.5]})
    lower = Spec("c", "cost", "t.csv", ("base_a",), higher_is_better=False)
    assert compare(wide, lower)["verdict"] == "model better"  # -0.1 both weeks
    auc = Spec("s", "ROC AUC", "t.csv", ("base_a",), chance=0.5)
    wide = pd.DataFrame({"base_a": [0.40, 0.42], "model": [0.45, 0.56]})
    out = compare(wide, auc)  # better than its baseline, but its interval holds 0.5
    assert out["verdict"] == "no signal" and out["at_chance"] is True


def test_wide_and_long_tables_are_read_alike():
    wide = pd.DataFrame(
        {"week_start": ["w1"], "base_a_ndcg": [0.1], "model_ndcg": [0.2], "n_genres": [3]}
    )
    assert list(weekly_values(wide, SPEC).columns) == ["base_a", "model"]
    long = pd.DataFrame(
        {
            "week_start": ["w1", "w1", "w1", "w1"],
            "model": ["pop", "knn", "knn", "oracle"],
            "exclude_seen": [False, False, True, False],
            "ndcg_at_20": [0.1, 0.2, 0.9, 1.0],
        }
    )
    spec = Spec(
        "r",
        "NDCG@20",
        "t.csv",
        ("pop",),
        column="ndcg_at_20",
        long=True,
        filters=(("exclude_seen", "False"),),
        exclude=("oracle",),
    )
    got = weekly_values(long, spec)
    assert got.to_dict("list") == {"knn": [0.2], "pop": [0.1]}


def test_a_stopped_run_is_a_row_with_its_reason(tmp_path):
    result = {"dump": "d", "rc": 2, "seconds": 3.0, "peak_gib": 0.1, "error": "no tracks"}
    row = collect_run(tmp_path, result, (SPEC,))
    assert row["products"] == {"p": {"metric": "NDCG@10", "verdict": "not run"}}
    page = scoreboard_markdown({"dumps": [row], "interval": "x"})
    assert "| d | — | — | 0.1 | 0.10 | stopped: no tracks |" in page


def test_dirt_adds_a_bom_junk_and_nulls_and_is_seeded():
    lines = [
        json.dumps({"user_id": i, "track_id": f"t{i}", "event_type": "play"}) for i in range(400)
    ]
    a = dirty_lines(lines, "sessions", np.random.default_rng(1), null_rate=0.1, junk_rate=0.05)
    b = dirty_lines(lines, "sessions", np.random.default_rng(1), null_rate=0.1, junk_rate=0.05)
    assert a == b
    assert a[0].startswith(BOM)
    parsed = []
    for line in a:
        try:
            parsed.append(json.loads(line.lstrip(BOM)))
        except ValueError:
            continue
    junk = len(a) - len(lines)
    assert 5 < junk < 40  # about 5% of 400
    nulls = sum(1 for o in parsed if isinstance(o, dict) and None in (o["user_id"], o["track_id"]))
    assert 20 < nulls < 60  # about 10% of 400
    arrays = [json.dumps([1, "t", "play"])]
    assert dirty_lines(arrays, "sessions", np.random.default_rng(0), 1.0, 0.0) == [BOM + arrays[0]]
    tracks = [json.dumps({"id": "t1", "id_artist": "a1"})]
    out = dirty_lines(tracks, "tracks", np.random.default_rng(0), 1.0, 0.0)
    assert json.loads(out[0].lstrip(BOM))["id_artist"] == -1  # the sentinel


def test_dirty_copy_reads_gzip_and_writes_plain(tmp_path):
    src = tmp_path / "dump"
    src.mkdir()
    with gzip.open(src / "users.jsonl.gz", "wt") as f:
        f.write('{"user_id": 1}\n{"user_id": 2}\n')
    (src / "notes.txt").write_text("not a table")
    dirty_copy(src, tmp_path / "out", null_rate=0.0, junk_rate=0.0)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["users.jsonl"]
    text = (tmp_path / "out" / "users.jsonl").read_text(encoding="utf-8")
    assert text == BOM + '{"user_id": 1}\n{"user_id": 2}\n'


def test_params_source_is_replaced_in_place():
    text = "data:\n  # where\n  source: data/raw/synthetic\n  gap: 1\nother:\n  source: x\n"
    assert set_source(text, "data/raw/d") == text.replace("data/raw/synthetic", "data/raw/d")
    with pytest.raises(PozytywkaError):
        set_source("data:\n  gap: 1\n", "x")


def test_log_reading():
    log = (
        "Running stage 'validate':\n> pozytywka validate\nRunning stage 'ingest':\n"
        "Traceback (most recent call last):\n  File x\n"
        "ValueError: Out of range float values are not JSON compliant: nan\n"
        "ERROR: failed to reproduce 'ingest'\n"
    )
    assert stages_in_log(log) == ["validate", "ingest"]
    assert last_error(log) == "ValueError: Out of range float values are not JSON compliant: nan"
    one_line = "pozytywka validate: error: tracks.jsonl: required file is missing\nERROR: x\n"
    assert last_error(one_line).startswith("pozytywka validate: error: tracks.jsonl")


def test_prepare_copies_the_project_and_points_at_the_dump(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "params.yaml").write_text("data:\n  source: data/raw/synthetic\n")
    (root / "src.py").write_text("x = 1\n")
    (root / "metrics").mkdir()
    (root / "metrics" / "offline.json").write_text("{}")  # the synthetic run's results
    (root / "dvc.lock").write_text("")
    (root / ".gitignore").write_text("ignored/\n")
    (root / "ignored").mkdir()
    (root / "ignored" / "big").write_text("no")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "params.yaml", ".gitignore"], cwd=root, check=True)
    dump = tmp_path / "mydump"
    dump.mkdir()
    (dump / "users.jsonl").write_text("{}\n")
    repo = prepare(root, dump, tmp_path / "work", "mydump")
    assert (repo / "src.py").exists()  # untracked, not ignored: a user's working tree
    assert not (repo / "ignored").exists()
    assert not (repo / "metrics").exists() and not (repo / "dvc.lock").exists()
    assert (repo / "data/raw/mydump/users.jsonl").read_text() == "{}\n"
    assert "source: data/raw/mydump" in (repo / "params.yaml").read_text()
    status = subprocess.run(["git", "status", "--short"], cwd=repo, capture_output=True, text=True)
    assert status.stdout == ""  # committed: DVC runs in a clean repository


def test_dump_folders(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a").mkdir()
    (tmp_path / "file").write_text("")
    assert [p.name for p in dump_folders([], tmp_path)] == ["a", "b"]
    with pytest.raises(PozytywkaError, match="not a folder"):
        dump_folders([tmp_path / "file"], tmp_path)
    with pytest.raises(PozytywkaError, match="not a folder"):
        dump_folders([], tmp_path / "nope")
    with pytest.raises(PozytywkaError, match="does not exist"):
        dump_folders([tmp_path / "nope"], tmp_path)
    (tmp_path / "other" / "a").mkdir(parents=True)
    with pytest.raises(PozytywkaError, match="two dump folders are named a"):
        dump_folders([tmp_path / "a", tmp_path / "other" / "a"], tmp_path)


def test_the_oracle_is_shown_but_never_the_best_model():
    wide = pd.DataFrame({"base": [0.2, 0.3], "model": [0.3, 0.4], "oracle": [1.0, 1.0]})
    spec = Spec("p", "reach share", "t.csv", ("base",), oracles=("oracle",))
    out = compare(wide, spec)
    assert out["best_model"] == "model"
    assert {r["name"]: r["kind"] for r in out["rows"]}["oracle"] == "oracle"
