"""Two consecutive weeks of retraining, end to end, in a temporary git repo (tiny scale).

Week N is reproduced and committed on ``main``; ``pozytywka retrain`` (what
``make retrain`` and the workflow run) advances the horizon by one week, reruns the
pipeline, scores week N's published playlists against week N+1's data and commits
to ``retrain/<ISO week>``; ``pozytywka report`` shows the hindsight table. The same
week retrained again gives the same branch commit, and a week already in the data
adds nothing. Its own copy of the session's ``tiny_pipeline`` (which is not mutated).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from e2e_helpers import run, stages_run

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]
ALL_STAGES = set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"])


def _json(repo: Path, path: str) -> dict:
    return json.loads((repo / path).read_text())


def _git(repo: Path, *args: str) -> str:
    return run(["git", *args], repo).strip()


def test_a_retraining_adds_one_week_and_scores_last_weeks_playlists(
    tmp_path: Path, tiny_pipeline
) -> None:
    # Week N is the session's tiny pipeline (every stage already run once there),
    # copied with its DVC cache and committed as `main`: this test mutates its copy.
    built, _ = tiny_pipeline
    repo = tmp_path / "repo"
    shutil.copytree(built, repo, symlinks=True)
    _git(repo, "checkout", "-q", "-B", "main")
    _git(repo, "config", "user.name", "t")
    _git(repo, "config", "user.email", "t@t")

    # --- week N: reproduced and committed ---
    assert stages_run(run(["dvc", "repro"], repo)) == set()  # up to date: built once
    assert set(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]) == ALL_STAGES
    assert _json(repo, "metrics/hindsight.json")["status"] == "no_previous"
    published = _json(repo, "reports/playlists/playlists.json")
    promised = _json(repo, "metrics/offline.json")["catboost"]["ndcg_at_k"]
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "--allow-empty", "-m", "week N")  # outputs may be in already
    main = _git(repo, "rev-parse", "main")

    # --- week N+1: `pozytywka retrain` ---
    out = run(["pozytywka", "retrain"], repo)
    # horizon 14 -> 15 weeks: the dump now ends with world week 14 = 2024-04-08 (W15)
    assert "branch=retrain/2024-W15" in out and "changed=true" in out
    assert _git(repo, "rev-parse", "--abbrev-ref", "HEAD") == "retrain/2024-W15"
    assert _git(repo, "rev-parse", "HEAD~1") == main
    # every stage reads the data (or the retrain inputs), so one more week reruns all;
    # nothing else changed (code, other params): the params diff is the horizon alone
    assert stages_run(out) == ALL_STAGES | {"data/dvc.yaml:generate"}  # the dump grew
    diff = run(["dvc", "params", "diff", "main", "--md"], repo)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in diff.splitlines()]
    changed = [r for r in rows if r[0] == "params.yaml"]
    assert changed == [["params.yaml", "data.synthetic.weeks", "14", "15"]]
    assert _git(repo, "rev-parse", "main") == main  # the base branch did not move
    assert _git(repo, "status", "--porcelain", "--untracked-files=no") == ""  # all committed

    # week N's playlists, scored on week N+1's data (their week is now complete)
    hindsight = _json(repo, "metrics/hindsight.json")
    assert hindsight["status"] == "scored"
    assert hindsight["week_start"] == published["week_start"]
    assert hindsight["base"] == main and hindsight["model"] == published["model"]
    assert hindsight["playlists"] == len(published["playlists"])
    assert 0 < hindsight["ndcg_at_k"] <= 1 and 0 < hindsight["capture_ratio"] <= 1
    assert hindsight["promised_ndcg_at_k"] == pytest.approx(promised, abs=1e-6)
    assert hindsight["ab"]["mode"] == "simulation"
    history = pd.read_csv(repo / "reports/hindsight/history.csv")
    assert list(history["iso_week"]) == [hindsight["iso_week"]]
    by_playlist = pd.read_csv(repo / "reports/hindsight/by_playlist.csv")
    assert set(by_playlist["genre"]) == {p["genre"] for p in published["playlists"]}

    # the PR report starts with it, and says what moved in the new week
    pr = tmp_path / "pr.md"  # outside the repo: the retrain below needs a clean tree
    run(["pozytywka", "report", "--base", "main", "--out", str(pr), "--no-plots"], repo)
    report = pr.read_text()
    assert report.index("### Last week, in hindsight") < report.index("### What moved")
    assert hindsight["iso_week"] in report and "### Data quality of the new rows" in report
    assert f"| {by_playlist['genre'][0]} |" in report
    assert _git(repo, "status", "--porcelain", "--untracked-files=no") == ""  # report wrote none

    # --- idempotent: the same week again from main -> the same branch commit ---
    head = _git(repo, "rev-parse", "HEAD")
    _git(repo, "checkout", "-q", "main")
    again = run(["pozytywka", "retrain", "--base", "main"], repo)
    # (stages with uncached outputs rerun; their outputs are byte-identical: same tree)
    assert "already holds this retraining" in again
    assert _git(repo, "rev-parse", "main") == main
    assert _git(repo, "rev-parse", "retrain/2024-W15") == head
    # a week already in the data adds nothing: said, nothing committed
    nothing = run(["pozytywka", "retrain", "--week", "2024-W15"], repo)
    assert "adds no data" in nothing and "changed=false" in nothing
    assert _git(repo, "rev-parse", "HEAD") == head
    assert _git(repo, "status", "--porcelain", "--untracked-files=no") == ""
