"""``engine: spark`` gives the same bytes as ``engine: duckdb`` on the tiny pipeline (issue 24).

The tiny pipeline (``tiny_pipeline``, built once per session by ``dvc repro`` with the
default engine, DuckDB) is copied; in the copy the stages that read events run again
with ``engine: spark`` on a Spark session in local mode (``local[2]``, no UI), then
the stages that publish the playlists run on their outputs. Every output file must
be byte-identical to the DuckDB run's: the weekly tables and features, the recs
interactions, the skip table and its history, and the published playlists.

One Spark session serves the module (its JVM starts in 10-20 s): the stages find it
active and reuse it (:func:`pozytywka.engine.open_engine`), and it is stopped at the end.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pozytywka.config import load_params

pytestmark = [
    pytest.mark.spark,
    pytest.mark.e2e,
    pytest.mark.needs("java"),
    pytest.mark.skipif(shutil.which("java") is None, reason="Spark needs Java"),
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas"),
]

#: What the event stages write (compared byte for byte).
EVENT_OUTPUTS = (
    "data/processed/weekly_popularity.parquet",
    "data/processed/weekly_listeners.parquet",
    "data/processed/features.parquet",
    "data/processed/recs_interactions.parquet",
    "data/processed/skips/plays.parquet",
    "data/processed/skips/history",
)
#: What the publishing stages write from them.
PUBLISHED = ("models/baseline.json", "models/catboost.cbm", "reports/playlists")


def _files(root: Path, rel: str) -> dict[str, bytes]:
    path = root / rel
    if path.is_dir():
        return {
            str(p.relative_to(root)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()
        }
    return {rel: path.read_bytes()}


def _run_stages(repo: Path, names: list[str], monkeypatch) -> None:
    from pozytywka.cli import STAGES

    monkeypatch.chdir(repo)
    params = load_params(repo / "params.yaml")
    for name in names:
        module, _ = STAGES[name]
        __import__(f"pozytywka.stages.{module}", fromlist=["run"]).run(params)


@pytest.fixture(scope="module")
def spark():
    pytest.importorskip("pyspark")
    from pozytywka.engine import spark_session, stop_spark

    session = spark_session("local[2]", app_name="pozytywka-engine-tests")
    yield session
    stop_spark(session)  # and its JVM: nothing outlives the tests


@pytest.fixture(scope="module")
def spark_copy(tiny_pipeline, spark, tmp_path_factory) -> tuple[Path, Path]:
    """(the DuckDB repo, a copy whose event stages re-ran on Spark); module-scoped."""
    repo, _ = tiny_pipeline
    copy = tmp_path_factory.mktemp("spark_engine") / "repo"
    shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".git", ".dvc"))
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["engine"] = "spark"
    params["spark"] = {"master": "local[2]", "shuffle_partitions": 3}
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for rel in (*EVENT_OUTPUTS, *PUBLISHED):  # nothing left over from the DuckDB run
        target = copy / rel
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    mp = pytest.MonkeyPatch()
    try:
        _run_stages(
            copy,
            ["features", "recs_interactions", "skips_features", "baseline", "train", "playlists"],
            mp,
        )
    finally:
        mp.undo()
    return repo, copy


@pytest.mark.parametrize("rel", EVENT_OUTPUTS)
def test_event_stages_on_spark_write_the_same_bytes_as_on_duckdb(spark_copy, rel):
    duck_repo, spark_repo = spark_copy
    duck, spk = _files(duck_repo, rel), _files(spark_repo, rel)
    assert sorted(spk) == sorted(duck) and duck
    different = [name for name in duck if duck[name] != spk[name]]
    assert different == []


def test_the_tables_compared_are_not_empty(spark_copy):
    _, spark_repo = spark_copy
    weekly = pd.read_parquet(spark_repo / "data/processed/weekly_popularity.parquet")
    plays = pd.read_parquet(spark_repo / "data/processed/skips/plays.parquet")
    assert len(weekly) > 100 and weekly["popularity"].sum() > 0
    assert len(plays) > 1000 and 0 < plays["skipped"].mean() < 1


def test_playlists_published_from_the_spark_run_are_byte_identical(spark_copy):
    duck_repo, spark_repo = spark_copy
    for rel in PUBLISHED:
        duck, spk = _files(duck_repo, rel), _files(spark_repo, rel)
        assert sorted(spk) == sorted(duck) and duck, rel
        assert [n for n in duck if duck[n] != spk[n]] == [], rel
    assert (spark_repo / "reports/playlists/playlists.json").stat().st_size > 100
