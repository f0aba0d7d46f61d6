"""Ingest's failure messages and the ``pozytywka ingest`` stage end to end."""

from __future__ import annotations

import copy
import gzip
import json

import pytest

from _ingest_dumps import base_dump, write_dump
from pozytywka.cli import main
from pozytywka.errors import PozytywkaError
from pozytywka.ingest import ingest_dump


@pytest.fixture
def dump():
    return copy.deepcopy(base_dump())


def one_line_error(source) -> str:
    with pytest.raises(PozytywkaError) as info:
        ingest_dump(source)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file_is_named(tmp_path, dump):
    del dump["track_storage"]
    message = one_line_error(write_dump(tmp_path / "d", dump))
    assert "track_storage.jsonl" in message and "missing" in message


def test_empty_file_is_named(tmp_path, dump):
    folder = write_dump(tmp_path / "d", dump)
    (folder / "users.jsonl").write_bytes(b"")
    message = one_line_error(folder)
    assert "users.jsonl" in message and "empty" in message


def test_file_of_blank_lines_is_empty_too(tmp_path, dump):
    folder = write_dump(tmp_path / "d", dump)
    (folder / "artists.jsonl").write_bytes(b"\r\n\n   \n")
    message = one_line_error(folder)
    assert "artists.jsonl" in message and "no data lines" in message


def test_empty_gz_file_is_named(tmp_path, dump):
    folder = write_dump(tmp_path / "d", dump, gz=("sessions",))
    (folder / "sessions.jsonl.gz").write_bytes(gzip.compress(b"", mtime=0))
    message = one_line_error(folder)
    assert "sessions.jsonl.gz" in message


def test_folder_without_jsonl_files_is_not_a_dump(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.png").write_bytes(b"\x89PNG")
    message = one_line_error(folder)
    assert "not a Pozytywka dump" in message and str(folder) in message


def test_missing_folder(tmp_path):
    assert "does not exist" in one_line_error(tmp_path / "nowhere")


def test_required_key_missing_in_every_row(tmp_path, dump):
    for row in dump["sessions"]:
        row["ts"] = row.pop("timestamp")  # another edition's name
    message = one_line_error(write_dump(tmp_path / "d", dump))
    assert "sessions.jsonl" in message and "'timestamp'" in message
    assert "keys found: session_id, user_id, track_id, event_type, ts" in message


def test_mostly_garbage_file_is_rejected(tmp_path, dump):
    dump["users"] += ["<html>", "<body>", "oops", "</body>"]
    message = one_line_error(write_dump(tmp_path / "d", dump))
    assert "users.jsonl" in message and "4 of 6 lines" in message


def test_plain_and_gz_of_the_same_file_is_ambiguous(tmp_path, dump):
    folder = write_dump(tmp_path / "d", dump)
    (folder / "tracks.jsonl.gz").write_bytes(gzip.compress(b"{}\n", mtime=0))
    message = one_line_error(folder)
    assert "tracks.jsonl" in message and "both exist" in message


def test_broken_gzip_is_a_user_error(tmp_path, dump):
    folder = write_dump(tmp_path / "d", dump)
    (folder / "sessions.jsonl").unlink()
    (folder / "sessions.jsonl.gz").write_bytes(b"this is not gzip at all")
    message = one_line_error(folder)
    assert "sessions.jsonl.gz" in message


# ------------------------------------------------------------------ the stage


@pytest.fixture
def project(tmp_path, monkeypatch, dump):
    """A tmp project root holding params.yaml and a dirty dump in data/raw/my-dump."""
    dump["sessions"].append("{broken line")
    dump["sessions"].append(
        {
            "session_id": 12,
            "timestamp": "2024-01-15T09:30:00",
            "user_id": None,
            "track_id": None,
            "event_type": "PLAY",
        }
    )
    for day, track in (("2024-01-23T12:00:00", "t2"), ("2024-02-06T12:00:00", "t3")):
        # two later plays: five complete weeks, enough for the smallest evaluation
        dump["sessions"].append(
            {
                "session_id": 13,
                "timestamp": day,
                "user_id": 1,
                "track_id": track,
                "event_type": "play",
            }
        )
    write_dump(tmp_path / "data/raw/my-dump", dump, gz=("sessions",))
    (tmp_path / "params.yaml").write_text(SMALL_EVALUATION)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# The fewest weeks the products can be evaluated on: playlists 1 + 1 + 1 + 1, skips and
# recs 1 + 1 + 1 (pozytywka.checks.weeks_needed).
SMALL_EVALUATION = """\
data: {source: data/raw/my-dump}
split: {min_train_weeks: 1, valid_weeks: 1}
evaluate: {eval_weeks: 1}
skips: {train_weeks: 1, valid_weeks: 1, eval_weeks: 1}
recs: {min_train_weeks: 1, valid_weeks: 1, eval_weeks: 1}
"""


def test_a_dump_too_short_is_rejected_before_anything_is_written(project, capsys):
    assert main(["ingest"]) == 0
    before = {p: p.read_bytes() for p in sorted(project.rglob("*")) if p.is_file()}
    # 4 training weeks + 1 validation + 1 evaluated + the prediction week: 7 > 5 weeks
    longer = SMALL_EVALUATION.replace(
        "split: {min_train_weeks: 1, valid_weeks: 1}", "split: {min_train_weeks: 4, valid_weeks: 1}"
    )
    assert longer != SMALL_EVALUATION
    (project / "params.yaml").write_text(longer)
    assert main(["ingest"]) == 2
    err = capsys.readouterr().err
    assert (
        "pozytywka ingest: error: data/raw/my-dump has 5 complete weeks, playlists needs at least 7"
        in err
    )
    after = {p: p.read_bytes() for p in sorted(project.rglob("*")) if p.is_file()}
    del before[project / "params.yaml"], after[project / "params.yaml"]
    assert after == before


def test_cli_writes_tables_metrics_and_reports(project, capsys):
    stale = project / "reports/data_quality/old_dropped_sample.csv"
    stale.parent.mkdir(parents=True)
    stale.write_text("from an older run\n")
    (project / "data/interim").mkdir(parents=True)
    (project / "data/interim/leftover.parquet").write_bytes(b"x")

    assert main(["ingest"]) == 0

    interim = sorted(p.name for p in (project / "data/interim").iterdir())
    assert interim == [
        "artists.parquet",
        "sessions.parquet",
        "track_genres.parquet",
        "track_storage.parquet",
        "tracks.parquet",
        "users.parquet",
    ]
    reports = sorted(p.name for p in (project / "reports/data_quality").iterdir())
    assert reports == ["sessions_dropped_sample.csv", "summary.md"]
    quality = json.loads((project / "metrics/data_quality.json").read_text())
    sessions = quality["sessions"]
    assert sessions["rows_read"] == 10
    assert sessions["rows_kept"] == 8
    assert sessions["dropped"]["malformed_json"] == 1
    assert sessions["dropped"]["track_id_missing"] == 1
    assert quality["window"]["complete_weeks"] == 5  # the weeks of Jan 1 .. Jan 29
    assert quality["source"] == "data/raw/my-dump"  # what the validate stage matches
    assert (
        "| sessions | `sessions.jsonl.gz` | 10 | 8 | 2 |"
        in (project / "reports/data_quality/summary.md").read_text()
    )


def test_rerun_gives_byte_identical_outputs(project):
    outputs = [
        "data/interim/sessions.parquet",
        "data/interim/tracks.parquet",
        "data/interim/artists.parquet",
        "data/interim/track_genres.parquet",
        "data/interim/users.parquet",
        "data/interim/track_storage.parquet",
        "metrics/data_quality.json",
        "reports/data_quality/summary.md",
        "reports/data_quality/sessions_dropped_sample.csv",
    ]
    assert main(["ingest"]) == 0
    first = {p: (project / p).read_bytes() for p in outputs}
    for p in outputs:
        (project / p).unlink()
    assert main(["ingest"]) == 0
    assert {p: (project / p).read_bytes() for p in outputs} == first


def test_cli_bad_dump_exits_2_with_one_line(project, capsys):
    (project / "data/raw/my-dump/users.jsonl").write_bytes(b"")
    assert main(["ingest"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if not line.startswith("INFO ")]
    assert len(lines) == 1, err
    assert lines[0].startswith("pozytywka ingest: error:")
    assert "users.jsonl" in lines[0]
    assert "Traceback" not in err
    assert not (project / "metrics/data_quality.json").exists()


def test_an_unversioned_dump_is_named_with_the_fix(tmp_path, monkeypatch):
    from pozytywka.stages.ingest import unversioned_source

    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/raw/d").mkdir(parents=True)
    assert unversioned_source("data/raw/d") == (
        "data/raw/d is not versioned: run `dvc add data/raw/d` and commit data/raw/d.dvc "
        "(queued and --temp experiments cannot see untracked files)"
    )
    (tmp_path / "data/raw/d.dvc").write_text("outs: []\n")
    assert unversioned_source("data/raw/d") is None
    # A folder inside a dvc-added one is versioned too; the generate stage's output is.
    (tmp_path / "data/raw/d.dvc").unlink()
    (tmp_path / "data/raw.dvc").write_text("outs: []\n")
    assert unversioned_source("data/raw/d") is None
    assert unversioned_source("data/raw/synthetic") is None
