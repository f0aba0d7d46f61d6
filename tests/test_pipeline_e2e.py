"""The real pipeline: `dvc repro` in a temporary git repo at a tiny synthetic scale.

The repo is copied as a fresh clone would see it (files git tracks or would
track), so the test exercises dvc.yaml, params.yaml and the stage commands
exactly as a user runs them. One session-scoped run (``tiny_pipeline`` in
conftest.py) serves all the checks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
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
    # every stage of dvc.yaml (all three products), and generate from data/dvc.yaml
    declared = set(yaml.safe_load((repo / "dvc.yaml").read_text())["stages"])
    assert {"ingest", "features", "baseline", "train", "evaluate", "playlists"} <= declared
    assert {"ab_test", "skips_train", "recs_publish", "hindsight", "drift"} <= declared
    assert _stages_run(output) == declared | {"data/dvc.yaml:generate"}
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


def _declared_outputs(repo: Path) -> dict[str, list[str]]:
    """Every output dvc.yaml declares (outs, metrics, plots), per stage, as written there."""
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    return {
        name: [
            entry if isinstance(entry, str) else next(iter(entry))
            for kind in ("outs", "metrics", "plots")
            for entry in spec.get(kind, [])
        ]
        for name, spec in stages.items()
    }


def _output_bytes(repo: Path, declared: list[str]) -> dict[str, bytes]:
    """Path -> bytes of every file those outputs hold (folders walked)."""
    files: dict[str, bytes] = {}
    for out in declared:
        path = repo / out
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                files[file.relative_to(repo).as_posix()] = file.read_bytes()
    return files


def test_rerunning_every_stage_on_a_busy_machine_with_other_threads_is_byte_identical(pipeline):
    """Same params and data -> the same bytes, whatever the load and the thread counts.

    The session built the pipeline with the default threads. Here every stage is forced
    to rerun (checked) with one DuckDB thread (``POZYTYWKA_DUCKDB_THREADS``) and
    ``OMP_NUM_THREADS=1`` while two busy processes keep both CPUs loaded (niced, so
    they perturb thread scheduling without doubling the test's time); then every md5
    in dvc.lock and every byte of every declared output must equal the first build's.
    """
    repo, _ = pipeline
    declared = _declared_outputs(repo)
    watched = [out for stage in sorted(declared) for out in declared[stage]]
    before = _output_bytes(repo, watched)
    lock = (repo / "dvc.lock").read_bytes()
    assert "models/catboost.cbm" in before and "metrics/offline.json" in before
    assert "data/processed/skips/plays.parquet" in before
    hogs = [
        subprocess.Popen(["nice", "-n", "19", sys.executable, "-c", "while True: pass"])
        for _ in range(2)
    ]
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONHASHSEED": "0",
        "POZYTYWKA_DUCKDB_THREADS": "1",
        "OMP_NUM_THREADS": "1",
    }
    try:
        result = subprocess.run(
            ["dvc", "repro", "--force"], cwd=repo, env=env, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert _stages_run(result.stdout + result.stderr) == set(declared) | {
            "data/dvc.yaml:generate"
        }
        after = _output_bytes(repo, watched)
        assert sorted(after) == sorted(before)
        assert [path for path in before if after[path] != before[path]] == []
        assert (repo / "dvc.lock").read_bytes() == lock
    finally:  # leave the shared repo as it was, whatever happened
        for hog in hogs:
            hog.kill()
            hog.wait()
        for path, data in before.items():
            if (repo / path).read_bytes() != data:
                (repo / path).write_bytes(data)
        (repo / "dvc.lock").write_bytes(lock)


def _downstream_of(repo: Path, stage: str) -> set[str]:
    """Stages that depend, directly or not, on ``stage``'s outputs (from dvc.yaml)."""
    spec = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    declared = _declared_outputs(repo)

    def reads(name: str, out: str) -> bool:
        deps = [str(d) for d in spec[name].get("deps", [])]
        return any(d == out or d.startswith(out + "/") or out.startswith(d + "/") for d in deps)

    found: set[str] = set()
    frontier = {stage}
    while frontier:
        outs = [o for s in frontier for o in declared[s]]
        frontier = {n for n in spec if n not in found | {stage} and any(reads(n, o) for o in outs)}
        found |= frontier
    return found


def test_a_clone_pulls_from_a_local_remote_and_reproduces_from_pulled_data(pipeline, tmp_path):
    repo, _ = pipeline
    _run(["dvc", "remote", "add", "--force", "-d", "local", str(tmp_path / "remote")], repo)
    _run(["dvc", "push"], repo)
    _commit(repo, "results")
    clone = tmp_path / "clone"
    _run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "data/interim").exists()  # data comes from the remote, not git
    _run(["dvc", "pull"], clone)
    assert _stages_run(_run(["dvc", "repro"], clone)) == set()
    for path in ("data/interim/sessions.parquet", "models/catboost.cbm"):
        assert (clone / path).read_bytes() == (repo / path).read_bytes()
    # A change downstream recomputes only what it affects, on the pulled data.
    params = yaml.safe_load((clone / "params.yaml").read_text())
    params["playlists"]["n_genres"] = 2
    (clone / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    # evaluate_sets too: the backtest's playlist sets follow the rules
    assert _stages_run(_run(["dvc", "repro"], clone)) == {
        "validate",
        "evaluate_sets",
        "playlists",
        "ab_test",
        "ab_peeking",
        "headline",
    }


def test_a_playlist_param_experiment_reruns_only_the_stages_after_it(pipeline):
    """A param of a late stage reruns only that stage and what follows, and the DVC
    experiment tools show it (exp show, params diff, metrics diff against HEAD).

    One `dvc exp run` on a playlists param: only `evaluate_sets` (the backtest's set
    measures use the playlist rules; no model is refitted), `playlists` and `ab_test`
    run. The repo is
    restored from HEAD afterwards.
    """
    repo, _ = pipeline
    _commit(repo, "baseline run")  # HEAD holds every git-tracked output of this state
    try:
        output = _run(["dvc", "exp", "run", "-S", "playlists.max_size=15", "-n", "short"], repo)
        # evaluate_sets reruns too: its set measures (reach, capture) use the playlist rules
        assert _stages_run(output) == {
            "validate",
            "evaluate_sets",
            "playlists",
            "ab_test",
            "ab_peeking",
            "headline",
        }
        published = json.loads((repo / "reports/playlists/playlists.json").read_text())
        assert all(len(p["tracks"]) <= 15 for p in published["playlists"])
        shown = _run(["dvc", "exp", "show", "--md", "--no-pager"], repo)
        assert "short" in shown and "playlists.max_size" in shown
        # `exp run` leaves the experiment's results in the workspace: diff it with HEAD.
        params_diff = _run(["dvc", "params", "diff", "HEAD", "--md"], repo)
        assert re.search(r"playlists\.max_size\s*\|\s*20\s*\|\s*15", params_diff), params_diff
        assert _run(["dvc", "metrics", "show", "--md"], repo).count("metrics/headline/") >= 6
    finally:
        _run(["git", "checkout", "--", "."], repo)
        _run(["dvc", "checkout", "--force"], repo)
    assert "up to date" in _run(["dvc", "status"], repo)
