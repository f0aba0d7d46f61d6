"""The real pipeline: `dvc repro` in a temporary git repo at a tiny synthetic scale.

The repo is copied as a fresh clone would see it (files git tracks or would
track), so the test exercises dvc.yaml, params.yaml and the stage commands
exactly as a user runs them. One session-scoped run (``tiny_pipeline`` in
conftest.py) serves all the checks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from e2e_helpers import commit as _commit
from e2e_helpers import run as _run
from e2e_helpers import stages_run as _stages_run

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def pipeline(tiny_pipeline) -> tuple[Path, str]:
    return tiny_pipeline


def test_every_stage_runs_and_writes_the_files_other_tools_read(pipeline):
    repo, output = pipeline
    assert _stages_run(output) == {
        "data/dvc.yaml:generate",  # the synthetic dump's own pipeline file (data/dvc.yaml)
        "ingest",
        "features",
        "baseline",
        "train",
        "evaluate",
        "playlists",
        "ab_test",
    }
    offline = json.loads((repo / "metrics/offline.json").read_text())
    assert offline["k"] == 10 and offline["weeks_evaluated"] == 2
    for model in ("baseline", "catboost"):
        assert set(offline[model]) >= {
            "ndcg_at_k",
            "precision_at_k",
            "recall_at_k",
            "capture_ratio",
        }
        assert all(0.0 <= offline[model][key] <= 1.0 for key in ("ndcg_at_k", "capture_ratio"))
    ab = json.loads((repo / "metrics/ab.json").read_text())
    assert set(ab) >= {
        "arms",
        "metric",
        "lift",
        "ci_low",
        "ci_high",
        "p_value",
        "srm_p_value",
        "mde",
    }
    assert ab["metric"] == "play_through_rate"
    assert ab["ci_low"] <= ab["lift"] <= ab["ci_high"]
    for arm in ("A", "B"):
        assert ab["arms"][arm]["users"] > 0
    quality = json.loads((repo / "metrics/data_quality.json").read_text())
    for table in ("artists", "tracks", "users", "sessions", "track_storage"):
        counts = quality[table]
        assert counts["rows_read"] == counts["rows_kept"] + counts["rows_dropped"] > 0, table
        assert counts["rows_dropped"] == sum(counts["dropped"].values()), table
    # The dirty dump's dirt is seen and accounted for, not silently passed through.
    sessions = quality["sessions"]
    assert sum(n > 0 for n in sessions["dropped"].values()) >= 2
    assert sum(sessions["repaired"].values()) > 0


def test_published_playlists_follow_the_rules(pipeline):
    repo, _ = pipeline
    published = json.loads((repo / "reports/playlists/playlists.json").read_text())
    # playlists.model auto: the model with the better backtest NDCG (a tie: the baseline).
    offline = json.loads((repo / "metrics/offline.json").read_text())
    better = offline["catboost"]["ndcg_at_k"] > offline["baseline"]["ndcg_at_k"]
    assert published["model"] == ("catboost" if better else "baseline")
    assert published["model_reason"].startswith("auto: ")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", published["week_start"])
    assert 1 <= len(published["playlists"]) <= 3
    for playlist in published["playlists"]:
        ids = [t["track_id"] for t in playlist["tracks"]]
        assert 10 <= len(ids) <= 20 and len(set(ids)) == len(ids)
        per_artist: dict[str, int] = {}
        for track in playlist["tracks"]:
            per_artist[track["artist"]] = per_artist.get(track["artist"], 0) + 1
        assert max(per_artist.values()) <= 2
    assert (repo / "reports/playlists/playlists.md").read_text().strip()


def test_second_repro_does_nothing(pipeline):
    repo, _ = pipeline
    output = _run(["dvc", "repro"], repo)
    assert _stages_run(output) == set()
    assert "up to date" in _run(["dvc", "status"], repo)


def test_retraining_on_the_same_data_is_byte_identical(pipeline):
    repo, _ = pipeline
    watched = [
        "models/catboost.cbm",
        "metrics/train.json",
        "metrics/offline.json",
        "reports/train/feature_importance.png",
        "reports/evaluate/offline_by_week.png",
        "reports/playlists/playlists.json",
        "metrics/ab.json",
    ]
    before = {path: (repo / path).read_bytes() for path in watched}
    _run(["dvc", "repro", "--force", "--downstream", "train"], repo)
    changed = [path for path in watched if (repo / path).read_bytes() != before[path]]
    assert changed == []


def test_a_playlist_param_reruns_only_the_stages_after_it(pipeline):
    repo, _ = pipeline
    params_path = repo / "params.yaml"
    original = params_path.read_text()
    params = yaml.safe_load(original)
    params["playlists"]["max_size"] = 15
    params_path.write_text(yaml.safe_dump(params, sort_keys=False))
    try:
        output = _run(["dvc", "repro"], repo)
        assert _stages_run(output) == {"playlists", "ab_test"}
        published = json.loads((repo / "reports/playlists/playlists.json").read_text())
        assert all(len(p["tracks"]) <= 15 for p in published["playlists"])
    finally:
        params_path.write_text(original)
        _run(["dvc", "repro"], repo)


def test_a_clone_pulls_from_a_local_remote_and_reproduces_from_pulled_data(pipeline, tmp_path):
    repo, _ = pipeline
    _run(["dvc", "remote", "add", "--force", "-d", "local", str(tmp_path / "remote")], repo)
    _run(["dvc", "push"], repo)
    _commit(repo, "results")
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    _run(["dvc", "pull"], clone)
    assert _stages_run(_run(["dvc", "repro"], clone)) == set()
    for path in ("data/interim/sessions.parquet", "models/catboost.cbm"):
        assert (clone / path).read_bytes() == (repo / path).read_bytes()
    # A change downstream recomputes only what it affects, on the pulled data.
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["playlists"]["n_genres"] = 2
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    assert _stages_run(_run(["dvc", "repro"], clone)) == {"playlists", "ab_test"}


def test_experiments_and_metric_diffs_work_as_dvc_users_expect(pipeline):
    repo, _ = pipeline
    _commit(repo, "baseline run")
    _run(["dvc", "exp", "run", "-S", "catboost.depth=4", "-n", "shallow"], repo)
    shown = _run(["dvc", "exp", "show", "--md", "--no-pager"], repo)
    assert "shallow" in shown and "catboost.depth" in shown
    # `exp run` leaves the experiment's results in the workspace: diff it with HEAD.
    params_diff = _run(["dvc", "params", "diff", "HEAD", "--md"], repo)
    assert re.search(r"catboost\.depth\s*\|\s*6\s*\|\s*4", params_diff), params_diff
    metrics_diff = _run(["dvc", "metrics", "diff", "HEAD", "--md"], repo)
    assert "metrics/train.json" in metrics_diff, metrics_diff
