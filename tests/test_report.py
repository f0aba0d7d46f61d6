"""The PR report: pure comparisons on hand-made results, and `pozytywka report` run
against a real two-commit git + DVC repository (metrics in git, no DVC remote)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pozytywka.cli import main
from pozytywka.errors import PozytywkaError
from pozytywka.markdown import table
from pozytywka.report.compare import Thresholds, ab_decision, metric_ci, playlist_diff, regressions
from pozytywka.report.gitrev import read_at, resolve_revision
from pozytywka.report.lockcheck import lock_drift

# --- hand-made results (DESIGN §6 schemas) --------------------------------------------


def track(i: int) -> dict:
    return {"track_id": f"t{i:02d}", "name": f"Song {i}", "artist": f"Artist {i % 4}", "score": 1.0}


def playlists_doc(week: str, genres: dict[str, list[int]]) -> dict:
    return {
        "week_start": week,
        "model": "catboost",
        "playlists": [{"genre": g, "tracks": [track(i) for i in ids]} for g, ids in genres.items()],
        "skipped": [{"genre": "polka", "reason": "only 4 tracks (min_size 10)"}],
    }


def offline_doc(cat_ndcg: float, base_ndcg: float = 0.40) -> dict:
    def section(ndcg: float) -> dict:
        return {"ndcg_at_k": ndcg, "precision_at_k": 0.3, "recall_at_k": 0.2, "capture_ratio": 0.7}

    return {
        "k": 10,
        "weeks_evaluated": 3,
        "baseline": section(base_ndcg),
        "catboost": section(cat_ndcg),
    }


def ab_doc(lift: float, p: float, ptr_b: float) -> dict:
    arm = {"users": 500, "play_through_rate": 0.60, "likes_per_user": 1.5, "skips_per_user": 3.0}
    return {
        "arms": {"A": arm, "B": {**arm, "users": 510, "play_through_rate": ptr_b}},
        "metric": "play_through_rate",
        "lift": lift,
        "ci_low": lift - 0.02,
        "ci_high": lift + 0.02,
        "p_value": p,
        "srm_p_value": 0.75,
        "mde": 0.015,
    }


BASE_GENRES = {"dance pop": list(range(1, 11)), "pop rap": list(range(11, 21)), "rock": [31, 32]}
PR_GENRES = {
    "dance pop": [*range(1, 9), 21, 22],  # t09, t10 left; t21, t22 entered
    "pop rap": list(range(11, 21)),  # unchanged
    "indie": list(range(40, 50)),  # appeared; rock disappeared
}


# --- pure functions -------------------------------------------------------------------


def test_playlist_diff_lists_entered_left_appeared_and_disappeared():
    diff = playlist_diff(
        playlists_doc("2024-07-01", BASE_GENRES), playlists_doc("2024-07-08", PR_GENRES)
    )
    (dance,) = diff.changed
    assert dance.genre == "dance pop"
    assert [t["track_id"] for t in dance.entered] == ["t21", "t22"]
    assert [t["track_id"] for t in dance.left] == ["t09", "t10"]
    assert [g.genre for g in diff.appeared] == ["indie"]
    assert [g.genre for g in diff.disappeared] == ["rock"]
    assert diff.unchanged == ["pop rap"]


def test_playlist_diff_against_missing_base_makes_every_genre_new():
    diff = playlist_diff(None, playlists_doc("2024-07-08", PR_GENRES))
    assert [g.genre for g in diff.appeared] == ["dance pop", "pop rap", "indie"]
    assert not diff.disappeared and not diff.changed


def test_playlist_diff_same_tracks_in_new_order_is_a_reorder():
    diff = playlist_diff(playlists_doc("w", {"g": [1, 2, 3]}), playlists_doc("w", {"g": [3, 2, 1]}))
    assert diff.changed[0].reordered and not diff.changed[0].entered


def test_catboost_drop_beyond_threshold_is_flagged_and_smaller_drop_is_not():
    flagged = regressions(offline_doc(0.50), offline_doc(0.485), None, None, Thresholds(0.01))
    assert len(flagged) == 1 and "NDCG@10 fell by 0.0150" in flagged[0]
    assert regressions(offline_doc(0.50), offline_doc(0.495), None, None, Thresholds(0.01)) == []


def test_losing_to_the_baseline_is_flagged():
    problems = regressions(offline_doc(0.45), offline_doc(0.399), None, None, Thresholds(0.1))
    assert any("no longer beats the baseline" in p for p in problems)


def test_ab_decision_needs_significance_and_a_ci_excluding_zero():
    assert ab_decision(ab_doc(0.05, 0.001, 0.65)) == "B (CatBoost) wins"
    assert ab_decision(ab_doc(-0.05, 0.001, 0.55)) == "A (baseline) wins"
    assert ab_decision(ab_doc(0.01, 0.30, 0.61)) == "no significant difference"
    assert ab_decision({**ab_doc(0.05, 0.001, 0.65), "srm_p_value": 1e-6}).startswith(
        "sample-ratio"
    )


def test_losing_a_significant_ab_win_is_flagged():
    problems = regressions(None, None, ab_doc(0.05, 0.001, 0.65), ab_doc(0.01, 0.3, 0.61))
    assert problems == [
        "A/B test: B (CatBoost) won at the base (B (CatBoost) wins), now: no significant difference"
    ]
    # the ab_test stage writes its own decision words; they are understood the same way
    staged = regressions(
        None,
        None,
        {**ab_doc(0.05, 0.001, 0.65), "decision": "ship B"},
        {**ab_doc(0.01, 0.3, 0.61), "decision": "inconclusive"},
    )
    assert staged == ["A/B test: B (CatBoost) won at the base (ship B), now: inconclusive"]


def test_metric_ci_reads_the_shapes_a_writer_may_use():
    assert metric_ci({"ndcg_at_k_ci": [0.1, 0.2]}, "ndcg_at_k") == (0.1, 0.2)
    assert metric_ci({"ndcg_at_k_ci_low": 0.1, "ndcg_at_k_ci_high": 0.2}, "ndcg_at_k") == (0.1, 0.2)
    assert metric_ci({"ci": {"ndcg_at_k": {"low": 0.1, "high": 0.2}}}, "ndcg_at_k") == (0.1, 0.2)
    assert metric_ci({"ndcg_at_k": 0.5}, "ndcg_at_k") is None


def test_markdown_table_escapes_pipes_in_track_names():
    text = table(["track"], [["A|B"]])
    assert text.splitlines()[2] == "| A\\|B |"


def lock(code_md5: str, out_md5: str, depth: int = 6) -> dict:
    return {
        "schema": "2.0",
        "stages": {
            "generate": {
                "cmd": "pozytywka generate",
                "deps": [{"path": "src/gen.py", "md5": "g1"}],
                "outs": [{"path": "data/raw", "md5": "r1.dir"}],
            },
            "train": {
                "cmd": "pozytywka train",
                "deps": [
                    {"path": "data/raw", "md5": "r1.dir"},
                    {"path": "src/train.py", "md5": code_md5},
                ],
                "params": {"params.yaml": {"catboost.depth": depth}},
                "outs": [{"path": "models/m.cbm", "md5": out_md5}],
            },
        },
    }


def test_lock_drift_separates_stale_inputs_from_irreproducible_outputs():
    assert lock_drift(lock("c1", "m1"), lock("c1", "m1")).clean
    stale = lock_drift(lock("c1", "m1"), lock("c2", "m2", depth=8))
    assert stale.stale == ["train: params catboost.depth; deps src/train.py"]
    noisy = lock_drift(lock("c1", "m1"), lock("c1", "m2"))
    assert noisy.stale == [] and noisy.outs_changed == ["train: models/m.cbm"]


# --- a real repository with two commits -------------------------------------------------

DVC_YAML = """\
# The metrics and params the real pipeline declares, without its stages.
params:
  - params.yaml
metrics:
  - metrics/offline.json
  - metrics/ab.json
plots:
  - reports/evaluate/offline_by_week.csv:
      x: week_start
      y: [baseline_ndcg_at_k, catboost_ndcg_at_k]
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def write_results(root: Path, *, depth: int, cat_ndcg: float, ab: dict, genres: dict, week: str):
    (root / "params.yaml").write_text(f"catboost:\n  depth: {depth}\nab:\n  alpha: 0.05\n")
    (root / "metrics").mkdir(exist_ok=True)
    (root / "metrics/offline.json").write_text(json.dumps(offline_doc(cat_ndcg)))
    (root / "metrics/ab.json").write_text(json.dumps(ab))
    (root / "reports/playlists").mkdir(parents=True, exist_ok=True)
    (root / "reports/playlists/playlists.json").write_text(json.dumps(playlists_doc(week, genres)))
    (root / "reports/evaluate").mkdir(parents=True, exist_ok=True)
    rows = [f"2024-06-{d:02d},0.40,{cat_ndcg + (d % 3) / 100:.3f}" for d in (3, 10, 17)]
    (root / "reports/evaluate/offline_by_week.csv").write_text(
        "week_start,baseline_ndcg_at_k,catboost_ndcg_at_k\n" + "\n".join(rows) + "\n"
    )
    # Stand-ins for the stage PNGs (the report copies, it does not decode them).
    (root / "reports/evaluate/offline_by_week.png").write_bytes(b"\x89PNG\r\n\x1a\nstage")
    (root / "reports/ab").mkdir(parents=True, exist_ok=True)
    (root / "reports/ab/arms.png").write_bytes(b"\x89PNG\r\n\x1a\nstage")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Commit 1: a first pipeline result. Commit 2 + workspace: the pull request."""
    root = tmp_path_factory.mktemp("repo")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "CI")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "dvc.yaml").write_text(DVC_YAML)
    write_results(
        root,
        depth=6,
        cat_ndcg=0.50,
        ab=ab_doc(0.05, 0.001, 0.65),
        genres=BASE_GENRES,
        week="2024-07-01",
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base results")
    write_results(
        root,
        depth=8,
        cat_ndcg=0.47,
        ab=ab_doc(0.01, 0.30, 0.61),
        genres=PR_GENRES,
        week="2024-07-08",
    )
    git(root, "commit", "-qam", "deeper trees")
    return root


def run_report(root: Path, monkeypatch, *args: str, out: str = "out/report.md") -> tuple[int, str]:
    """Run the console script in-process from ``root`` (the project root, as in CI)."""
    monkeypatch.chdir(root)
    code = main(["report", "--base", "HEAD~1", "--out", out, *args])
    out = root / out
    return code, out.read_text(encoding="utf-8") if out.exists() else ""


def test_report_shows_dvc_diffs_headline_and_playlist_changes(repo, monkeypatch):
    code, text = run_report(repo, monkeypatch)
    assert code == 0
    # dvc params diff / metrics diff tables, with the changed values
    assert re.search(r"\| params.yaml \| catboost.depth \| 6 +\| 8 ", text)
    assert re.search(r"\| metrics/offline.json \| catboost.ndcg_at_k +\| 0.5 +\| 0.47 ", text)
    # headline: CatBoost NDCG before -> after with the drop flagged
    assert "0.5000 → 0.4700 (-0.0300) ⚠️" in text
    assert "CatBoost NDCG@10 fell by 0.0300" in text
    # A/B before/after decisions
    assert "B (CatBoost) wins" in text and "**no significant difference**" in text
    # playlists: entered and left tracks, appeared and disappeared genres
    assert "Song 21 — Artist 1 (`t21`)" in text and "Song 9 — Artist 1 (`t09`)" in text
    assert re.search(r"\| indie \| new genre \| \+10 ", text)
    assert re.search(r"\| rock \| genre dropped \|  \| −2 ", text)
    assert re.search(r"\| pop rap \| unchanged ", text)
    assert "week 2024-07-01 → 2024-07-08" in text


def test_report_images_exist_and_are_referenced_relative_to_the_report(repo, monkeypatch):
    _, text = run_report(repo, monkeypatch)
    refs = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert "report_plots/offline.png" in refs and "report_plots/ab_arms.png" in refs
    assert "report_plots/arms.png" in refs  # the ab_test stage's own PNG
    for ref in refs:
        png = repo / "out" / ref
        assert png.read_bytes().startswith(b"\x89PNG"), ref


def test_strict_report_exits_1_on_regression_but_still_writes_it(repo, monkeypatch):
    code, text = run_report(repo, monkeypatch, "--strict", "--no-plots", out="strict.md")
    assert code == 1 and "problem(s) flagged" in text and "![" not in text


def test_files_missing_at_base_are_reported_not_fatal(tmp_path, monkeypatch):
    root = tmp_path / "first"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "CI")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    git(root, "commit", "-qm", "empty project")  # the base: no pipeline yet
    (root / "dvc.yaml").write_text(DVC_YAML)
    write_results(
        root,
        depth=6,
        cat_ndcg=0.5,
        ab=ab_doc(0.05, 0.001, 0.65),
        genres=PR_GENRES,
        week="2024-07-08",
    )
    git(root, "add", "-A")
    git(root, "commit", "-qm", "add the pipeline")
    code, text = run_report(root, monkeypatch)
    assert code == 0
    assert "not present at base" in text
    assert "0.5000 (new)" in text
    assert re.search(r"\| dance pop \| new genre \| \+10 ", text)


def _locked_repo(root: Path) -> Path:
    """A repo whose base commit holds results and the lock ``lock("c1", "m1")``, and a PR
    commit on top that changes nothing (the test then writes what CI's repro would)."""
    import yaml

    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "ci@example.com")
    git(root, "config", "user.name", "CI")
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    (root / "dvc.yaml").write_text(DVC_YAML)
    ab = ab_doc(0.05, 0.001, 0.65)
    write_results(root, depth=6, cat_ndcg=0.5, ab=ab, genres=PR_GENRES, week="2024-07-08")
    (root / "dvc.lock").write_text(yaml.safe_dump(lock("c1", "m1")))
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "commit", "-q", "--allow-empty", "-m", "the PR, committed without dvc repro")
    return root


def test_check_lock_flags_a_committed_lock_stale_for_its_code_and_params(tmp_path, monkeypatch):
    import yaml

    root = _locked_repo(tmp_path / "locked")
    # what a fresh `dvc repro` in CI writes: the PR's code and params differ
    (root / "dvc.lock").write_text(yaml.safe_dump(lock("c2", "m2", depth=8)))
    code, text = run_report(root, monkeypatch, "--strict", "--check-lock", "--no-plots")
    assert code == 1
    assert "committed dvc.lock is stale for 1 stage(s)" in text
    assert "- train: params catboost.depth; deps src/train.py" in text
    code, text = run_report(root, monkeypatch, "--strict", "--no-plots")  # lock not checked
    assert code == 0 and "dvc.lock" not in text


def test_check_lock_fails_naming_an_output_that_did_not_reproduce(tmp_path, monkeypatch):
    """Same code, params and data, other bytes: the PR gate fails and names the output."""
    import yaml

    root = _locked_repo(tmp_path / "noisy")
    (root / "dvc.lock").write_text(yaml.safe_dump(lock("c1", "m2")))  # CI's fresh repro
    code, text = run_report(root, monkeypatch, "--strict", "--check-lock", "--no-plots")
    assert code == 1
    assert "outputs not reproduced byte for byte: train: models/m.cbm" in text
    assert "- `train: models/m.cbm`" in text


def test_shallow_clone_explains_fetch_depth(repo, tmp_path, monkeypatch, capsys):
    shallow = tmp_path / "shallow"
    git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(shallow))
    with pytest.raises(PozytywkaError, match="fetch-depth: 0"):
        resolve_revision("HEAD~1", shallow)
    monkeypatch.chdir(shallow)
    assert main(["report", "--base", "origin/main~1", "--out", "r.md"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fetch-depth: 0" in err[0] and "Traceback" not in err[0]


def test_unknown_revision_says_how_to_fetch(repo):
    with pytest.raises(PozytywkaError, match="git fetch origin no-such-branch"):
        resolve_revision("origin/no-such-branch", repo)


def test_read_at_returns_none_for_a_file_added_later(repo):
    sha = resolve_revision("HEAD~1", repo)
    assert read_at(sha, "metrics/ab.json", repo) is not None
    assert read_at(sha, "metrics/not_there.json", repo) is None


def test_a_dvc_diff_with_only_a_header_counts_as_no_change():
    from pozytywka.report.dvcdiff import DvcDiff

    header_only = "| Path   | Param   | HEAD~1   | workspace   |\n|--------|---------|---|---|"
    assert DvcDiff("params", header_only).empty
    assert DvcDiff("params", "").empty
    with_row = header_only + "\n| params.yaml | catboost.depth | 6 | 8 |"
    assert not DvcDiff("params", with_row).empty
    assert not DvcDiff("params", "", error="dvc failed").empty


def test_pr_report_heads_a_replay_as_an_estimate_and_shows_an_undefined_lift_as_a_difference():
    """Issue 9 items 8-9: the PR report said "A/B simulation" for a replay; an undefined
    lift has its difference B - A with Welch's interval instead."""
    from pozytywka.report.build import Snapshot, _ab_section

    replay = {
        **ab_doc(0.0, 0.4, 0.6),
        "mode": "replay",
        "lift": None,
        "ci_low": None,
        "ci_high": None,
        "lift_defined": False,
        "abs_diff": -0.3333,
        "abs_ci_low": -1.0,
        "abs_ci_high": 1.0,
        "reason": "only 1 user in arm A and 1 user in arm B played a served track",
    }
    text = _ab_section(
        Snapshot("base", ab=ab_doc(0.03, 0.01, 0.62)), Snapshot("pr", ab=replay), 0.05
    )
    assert text.startswith("### A/B replay estimate (not an experiment) (arm A: baseline")
    assert "| difference B − A |" in text and "[-1.0000, 1.0000]" in text
    assert "_Why: only 1 user in arm A and 1 user in arm B played a served track._" in text
    simulated = _ab_section(
        Snapshot("b"), Snapshot("pr", ab={**ab_doc(0.03, 0.01, 0.62), "mode": "simulation"}), 0.05
    )
    assert simulated.startswith("### A/B simulation (arm A")


def test_report_says_which_model_was_published_and_why():
    from pozytywka.report.build import Snapshot, _playlist_section
    from pozytywka.report.compare import playlist_diff

    before = playlists_doc("2024-07-01", BASE_GENRES)
    after = {
        **playlists_doc("2024-07-08", BASE_GENRES),
        "model": "baseline",
        "model_reason": "auto: the baseline has the better backtest NDCG@10 0.5 vs 0.4",
    }
    text = _playlist_section(
        playlist_diff(before, after),
        Snapshot("base", playlists=before),
        Snapshot("pr", playlists=after),
    )
    assert "model `baseline`" in text
    assert "Published `baseline`: auto: the baseline has the better backtest NDCG@10" in text


def test_a_huge_metrics_diff_is_cut_to_fit_a_pull_request_comment():
    """A diff of every metric was 301 KB: more than the 65,536 characters of a comment."""
    from pozytywka.report.build import MAX_TABLE_ROWS, _dvc_section
    from pozytywka.report.dvcdiff import DvcDiff

    header = "| Path | Metric | HEAD | workspace | Change |\n|---|---|---|---|---|"
    rows = [f"| metrics/recs.json | m{i}.ndcg_at_20 | 0.1 | 0.2 | 0.1 |" for i in range(5000)]
    text = _dvc_section("Metrics diff", DvcDiff("metrics", "\n".join([header, *rows])), "none")
    assert len(text) < 65_536
    assert rows[MAX_TABLE_ROWS - 1] in text and rows[MAX_TABLE_ROWS] not in text
    assert f"{5000 - MAX_TABLE_ROWS} more rows left out" in text and "5000 changed values" in text
    short = _dvc_section("Metrics diff", DvcDiff("metrics", "\n".join([header, *rows[:3]])), "n")
    assert "left out" not in short and rows[2] in short
