"""The benchmark runs and reports; no test here asserts a duration (issue 6).

Unit tests cover the pure parts (scale mapping, the scaling fit, the reference
query's full-play rule against :mod:`pozytywka.plays`, peak-memory measurement);
one test runs ``pozytywka bench`` end to end at a tiny scale into ``tmp_path``
and checks that ``bench.json`` is complete and sane.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pozytywka import plays
from pozytywka.bench import report
from pozytywka.bench.measure import run_measured
from pozytywka.bench.reference import run_reference
from pozytywka.bench.runner import scale_params
from pozytywka.bench.scale import expected_events, parse_scales, synthetic_for_events
from pozytywka.cli import main
from pozytywka.config import SyntheticParams, params_from_dict
from pozytywka.errors import PozytywkaError

ROOT = Path(__file__).resolve().parents[1]


def test_event_counts_parse_with_suffixes_and_reject_nonsense():
    assert parse_scales("10M 1000000, 200k") == [200_000, 1_000_000, 10_000_000]
    for bad in ("", "ten", "5"):
        with pytest.raises(PozytywkaError):
            parse_scales(bad)


@pytest.mark.parametrize("events", [20_000, 1_000_000, 10_000_000])
def test_synthetic_params_hit_the_target_event_count(events):
    base = SyntheticParams()
    scaled = synthetic_for_events(events, base)
    assert expected_events(scaled) == pytest.approx(events, rel=0.02)
    # the shape of the world is kept; the catalogue grows slower than the users
    assert (scaled.weeks, scaled.events_per_session) == (base.weeks, base.events_per_session)
    if events > expected_events(base):
        assert 1 < scaled.artists / base.artists < scaled.users / base.users


def test_scale_params_are_valid_params_with_the_dump_as_source():
    raw = {"data": {"synthetic": {"users": 3000}}, "catboost": {"depth": 4}}
    out = scale_params(raw, 1_000_000, catboost_iterations=50)
    params = params_from_dict(out)
    assert params.data.source == "data/raw/synthetic"
    assert params.catboost.iterations == 50 and params.catboost.depth == 4
    assert raw == {"data": {"synthetic": {"users": 3000}}, "catboost": {"depth": 4}}


def test_scaling_exponent_recovers_the_power_law():
    events = [1e5, 1e6, 1e7]
    assert report.scaling_exponent(events, [2e-5 * e for e in events]) == pytest.approx(1.0)
    assert report.scaling_exponent(events, [1e-9 * e**2 for e in events]) == pytest.approx(2.0)
    assert report.scaling_exponent([1e6], [3.0]) is None


def _random_sessions(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # timestamps on a 10-minute grid: many ties inside sessions, the hard case
    minutes = rng.integers(0, 60 * 24 * 40, n) // 10 * 10
    frame = pd.DataFrame(
        {
            "session_id": rng.integers(0, 300, n).astype(str),
            "timestamp": pd.Timestamp("2024-01-03") + pd.to_timedelta(minutes, unit="min"),
            "user_id": rng.integers(0, 40, n).astype(str),
            "track_id": rng.integers(0, 15, n).astype(str),
            "event_type": rng.choice(["play", "skip", "like", "advertisement"], n),
        }
    )
    frame["timestamp"] = frame["timestamp"].astype("datetime64[us]")
    return frame


def test_reference_query_computes_the_same_popularity_as_the_pipeline_sql(tmp_path):
    sessions = _random_sessions(seed=1, n=6000)
    dump = tmp_path / "dump"
    dump.mkdir()
    raw = sessions.assign(timestamp=sessions["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%S"))
    raw.to_json(dump / "sessions.jsonl", orient="records", lines=True)
    rows = run_reference(dump, tmp_path / "ref.parquet")
    ref = pd.read_parquet(tmp_path / "ref.parquet")
    assert rows == len(ref) > 0
    expected = plays.weekly_popularity(sessions.assign(row_number=range(len(sessions))))
    got = ref.assign(track_id=ref["track_id"].astype(str)).sort_values(["week_start", "track_id"])
    assert got["popularity"].tolist() == expected["popularity"].tolist()
    assert got["track_id"].tolist() == expected["track_id"].tolist()


def test_reference_query_on_a_folder_without_sessions_is_a_user_error(tmp_path):
    with pytest.raises(PozytywkaError, match="sessions"):
        run_reference(tmp_path, tmp_path / "ref.parquet")


def test_measurement_sees_the_child_peak_memory_and_failures(tmp_path):
    grab = "import numpy as np; a = np.ones(200 * 2**20 // 8); print(a.sum())"
    m = run_measured([sys.executable, "-c", grab], tmp_path, tmp_path / "ok.log")
    assert m.peak_rss_mb > 180 and m.seconds > 0
    with pytest.raises(PozytywkaError, match="boom"):
        run_measured(
            [sys.executable, "-c", "raise SystemExit('boom')"], tmp_path, tmp_path / "bad.log"
        )


def test_bench_runs_at_a_tiny_scale_and_writes_a_valid_report(tmp_path):
    out = tmp_path / "bench"
    code = main(
        [
            "--params",
            str(ROOT / "params.yaml"),
            "-q",
            "bench",
            "--events",
            "20000",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
            "--iterations",
            "30",
        ]
    )
    assert code == 0
    bench = json.loads((out / "bench.json").read_text())
    assert (out / "bench.png").stat().st_size > 0 and (out / "bench.md").read_text().strip()
    assert {"machine", "scales", "scaling", "targets", "noop_repro"} <= set(bench)
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", bench["machine"]["date_utc"])
    assert f"measured {bench['machine']['date_utc']} on " in (out / "bench.md").read_text()
    (scale,) = bench["scales"]
    assert 15_000 < scale["events"] < 30_000
    assert set(scale["stages"]) == {
        "generate",
        "ingest",
        "features",
        "baseline",
        "train",
        "playlists",
    }
    for m in [*scale["stages"].values(), scale["reference"]]:
        assert m["seconds"] > 0 and m["peak_rss_mb"] > 0 and m["events_per_second"] > 0
        assert m["events"] == scale["events"]
    assert scale["ratio_to_reference"] > 0
    assert scale["ratio_to_reference"] == pytest.approx(
        scale["ingest_features_seconds"] / scale["reference"]["seconds"], rel=1e-2
    )
    assert 0.0 <= scale["reference_agreement"] <= 1.0
    assert scale["feature_rows"] > 0 and scale["catboost_iterations"] == 30
    assert bench["targets"]["ingest_features_ratio"] == scale["ratio_to_reference"]
    assert bench["scaling"]["ingest_features"] is None  # one scale: no slope to fit


def test_sampling_fractions_are_validated_with_one_line():
    from pozytywka.commands.bench import _fractions
    from pozytywka.errors import PozytywkaError

    assert _fractions("1,0.5 0.25") == [1.0, 0.5, 0.25]
    for bad in ("0", "1.5", "half", ""):
        with pytest.raises(PozytywkaError, match="--sampling takes fractions"):
            _fractions(bad)


# --- the figures quoted in the README and docs come from the committed report -----------

QUOTE_START = "<!-- quoted from reports/bench/bench.md -->"
QUOTE_END = "<!-- end of quote -->"


def _quoted_lines(text: str) -> list[str]:
    lines = []
    for block in text.split(QUOTE_START)[1:]:
        assert QUOTE_END in block, "a bench quote is not closed"
        lines += [line.strip() for line in block.split(QUOTE_END)[0].splitlines() if line.strip()]
    return lines


@pytest.mark.parametrize("doc", ["README.md", "docs/scaling.md"])
def test_bench_figures_quoted_in_the_docs_are_in_the_committed_report(doc):
    report = ROOT / "reports/bench"
    bench = json.loads((report / "bench.json").read_text())
    md = (report / "bench.md").read_text()
    assert (report / "bench.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    date = bench["machine"]["date_utc"]
    text = (ROOT / doc).read_text(encoding="utf-8")
    quoted = _quoted_lines(text)
    assert quoted, f"{doc} quotes no bench figures"
    missing = [line for line in quoted if line.lstrip("> ") not in md]
    assert missing == [], f"{doc} quotes lines that are not in reports/bench/bench.md"
    # the prose around the quote names the day and the machine it came from
    assert f"measured {date}" in md and date in text
    assert f"{bench['machine']['cpus']} CPUs" in text


def test_gitignore_keeps_the_bench_report_and_ignores_the_rest_of_reports_bench():
    def ignored(path: str) -> bool:
        check = ["git", "check-ignore", "-q", "--no-index", path]
        return subprocess.run(check, cwd=ROOT).returncode == 0

    for name in ("bench.json", "bench.md", "bench.png"):
        assert not ignored(f"reports/bench/{name}"), name
    assert ignored("reports/bench/profile_ingest.txt")
