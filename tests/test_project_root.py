"""Every ``pozytywka`` subcommand runs in the project root, from any folder inside it (issue 9)."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from _ingest_dumps import base_dump, write_dump
from pozytywka.cli import build_parser, main
from pozytywka.paths import find_root

OFFLINE = {
    "k": 10,
    "weeks_evaluated": 6,
    "weeks_catboost_better": 5,
    "baseline": {"ndcg_at_k": 0.8},
    "catboost": {"ndcg_at_k": 0.85},
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project root (dvc.yaml, params.yaml, a dump, one metrics file) with subfolders."""
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text("data:\n  source: data/raw/my-dump\n")
    write_dump(tmp_path / "data/raw/my-dump", copy.deepcopy(base_dump()))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/offline.json").write_text(json.dumps(OFFLINE))
    (tmp_path / "src/pozytywka").mkdir(parents=True)
    return tmp_path


def test_summary_from_a_subfolder_reads_the_projects_results(project, monkeypatch, capsys):
    monkeypatch.chdir(project / "src")
    assert main(["summary"]) == 0
    assert "better in 5/6 weeks" in capsys.readouterr().out


def test_the_console_script_from_a_nested_subfolder(project):
    result = subprocess.run(
        [sys.executable, "-m", "pozytywka.cli", "summary"],
        cwd=project / "src/pozytywka",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "better in 5/6 weeks" in result.stdout


def test_a_stage_from_a_subfolder_reads_and_writes_in_the_project_root(project, monkeypatch):
    monkeypatch.chdir(project / "data/raw")
    assert main(["-q", "validate"]) == 0  # reads params.yaml and the dump, writes a report
    assert (project / "reports/checks/validated.json").is_file()
    assert not (project / "data/raw/reports").exists()


def test_paths_typed_on_the_command_line_are_relative_to_the_start_folder(project, monkeypatch):
    (project / "conf").mkdir()
    (project / "conf/alt.yaml").write_text("data:\n  source: data/raw/my-dump\n")
    monkeypatch.chdir(project / "conf")
    args = build_parser().parse_args(
        ["--params", "alt.yaml", "report", "--base", "x", "--out", "r.md"]
    )
    assert args.params == str(project / "conf/alt.yaml")
    assert args.out == project / "conf/r.md"
    # defaults stay relative: they are the project root's files
    assert build_parser().parse_args(["summary"]).params == "params.yaml"
    (project / "conf/alt.yaml").write_text("data:\n  source: data/raw/nope\n")
    assert main(["-q", "--params", "alt.yaml", "validate"]) == 2  # alt.yaml was read
    (project / "conf/alt.yaml").write_text("data:\n  source: data/raw/my-dump\n")
    monkeypatch.chdir(project / "conf")  # main() moved to the project root
    assert main(["-q", "--params", "alt.yaml", "validate"]) == 0
    assert (project / "reports/checks/validated.json").is_file()


def test_outside_any_project_the_command_says_to_run_inside_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["summary"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert f"no dvc.yaml in {tmp_path} or any folder above it" in err[0]
    assert "make repro" in err[0]


def test_find_root_walks_up_but_not_out_of_a_folder_with_its_own_params(project):
    assert find_root(project / "src/pozytywka") == project
    assert find_root(project) == project
    # the benchmark runs stages in scale folders holding their own params.yaml: never
    # on the data of a project they happen to sit in
    scale = project / "work/scale_1"
    scale.mkdir(parents=True)
    (scale / "params.yaml").write_text("data:\n  source: dump\n")
    assert find_root(scale) == scale
    assert find_root(project.parent) is None


def test_a_stage_run_parses_without_the_other_commands():
    from pozytywka.cli import STAGES, _command_word

    assert _command_word(["--params", "skips_train", "-q", "skips_cache"]) == "skips_cache"
    assert _command_word(["-q", "report", "--out", "x.md"]) == "report"
    assert _command_word(["-h"]) is None
    light = build_parser(commands=False)
    assert light.parse_args(["skips_train"]).command == "skips_train"
    with pytest.raises(SystemExit):
        light.parse_args(["summary"])  # only the full parser knows the other commands
    assert build_parser().parse_args(["summary"]).command == "summary"
    assert set(STAGES) >= {"skips_features", "skips_train", "skips_evaluate", "skips_cache"}
