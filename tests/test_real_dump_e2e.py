"""A real dump is versioned data, and the pipeline does no synthetic work for it.

In the tiny pipeline's repo (``tiny_pipeline``), a tiny dump in the real format
(the synthetic generator's, copied to ``data/raw/d``) is versioned the way the
README says (``dvc add``), then: a ``--temp`` experiment, which like a queued one
runs in a copy of the repository, finds it (issue 9 item 15); and ``dvc repro``
with ``data.source`` pointing at it never runs ``generate``, even with the
synthetic dump deleted (item 13). The repo is restored at the end.
"""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from e2e_helpers import commit, run, stages_run

pytestmark = pytest.mark.e2e


def test_a_versioned_real_dump_runs_in_temp_experiments_without_generate(tiny_pipeline):
    repo, _ = tiny_pipeline
    commit(repo, "before the real dump")
    before = run(["git", "rev-parse", "HEAD"], repo).strip()
    params_path = repo / "params.yaml"
    try:
        shutil.copytree(repo / "data/raw/synthetic", repo / "data/raw/d")
        # The README's real-dump path: version the folder, commit the .dvc file.
        run(["dvc", "add", "data/raw/d"], repo)
        commit(repo, "a real dump")
        out = run(
            ["dvc", "exp", "run", "--temp", "-n", "real", "-S", "data.source=data/raw/d"], repo
        )
        assert "generate" not in " ".join(stages_run(out))
        assert "ingest" in stages_run(out)
        shown = json.loads(run(["dvc", "exp", "show", "--json", "--no-pager"], repo))
        exps = [
            e
            for rev in shown
            for e in (rev.get("experiments") or [])
            if (e.get("name") or "") == "real"
        ]
        assert exps, shown
        data = exps[0]["revs"][0]["data"]
        assert data["params"]["params.yaml"]["data"]["data"]["source"] == "data/raw/d"
        headline = data["metrics"]["metrics/headline/data.json"]["data"]
        assert headline["events_kept"] > 0

        # In the workspace: no synthetic dump at all, and dvc repro does not make one.
        params = yaml.safe_load(params_path.read_text())
        params["data"]["source"] = "data/raw/d"
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))
        shutil.rmtree(repo / "data/raw/synthetic")
        out = run(["dvc", "repro"], repo)
        assert "ingest" in stages_run(out)
        assert not any("generate" in stage for stage in stages_run(out))
        assert not (repo / "data/raw/synthetic").exists()
        assert "not versioned" not in out  # the dvc-added dump needs no warning
    finally:
        run(["git", "reset", "-q", "--hard", before], repo)
        shutil.rmtree(repo / "data/raw/d", ignore_errors=True)
        run(["dvc", "checkout", "--force"], repo)
    assert stages_run(run(["dvc", "repro"], repo)) == set()
