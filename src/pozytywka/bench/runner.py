"""Generate a dump per scale, run the stages on it one by one, and measure each.

Each scale gets its own project folder (a ``params.yaml`` whose ``data.source``
is the dump the ``generate`` stage writes there); every stage runs as
``python -m pozytywka.cli --params params.yaml STAGE`` with that folder as its
working directory, exactly as DVC would run it. The reference query runs the
same way on the same JSON lines. The folders are temporary unless ``keep``.

The no-op ``dvc repro`` is measured once, in a copy of the project as a clone
would see it, at a tiny scale: after a first full repro, a second has nothing
to do, and its cost is DVC checking hashes and params, not the data volume
(DVC caches file hashes by inode, size and mtime).
"""

from __future__ import annotations

import copy
import gzip
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..config import params_from_dict, read_yaml
from ..errors import PozytywkaError
from ..synthetic.simulate import DENSE_ACTIVITY
from . import report
from .measure import Measurement, run_measured
from .scale import expected_events, synthetic_for_events

log = logging.getLogger(__name__)

#: What the benchmark runs on each dump, in order (``generate`` first, as setup).
STAGES = ("generate", "ingest", "features", "baseline", "train", "playlists")

#: The tiny world the no-op repro is measured on (as tests/test_pipeline_e2e.py).
NOOP_TINY = {
    "data": {
        "synthetic": {
            "users": 400,
            "artists": 60,
            "weeks": 14,
            "genres": 10,
            **DENSE_ACTIVITY,  # the tiny world's activity (as e2e_helpers.TINY)
        }
    },
    "catboost": {"iterations": 60},
    "evaluate": {"eval_weeks": 2, "n_genres": 5},
    "playlists": {"n_genres": 3},
}


@dataclass(frozen=True)
class BenchConfig:
    """What to run: event counts, where to write, which params to start from."""

    scales: Sequence[int]
    out_dir: Path
    params_path: Path = Path("params.yaml")
    work_dir: Path | None = None
    keep: bool = False
    catboost_iterations: int | None = None
    noop_repro: bool = False
    profile: Sequence[str] = field(default_factory=tuple)
    project_root: Path = Path(".")


def deep_update(base: dict, extra: dict) -> dict:
    """Merge ``extra`` into ``base`` recursively (``base`` is modified and returned)."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def scale_params(raw: dict, events: int, catboost_iterations: int | None) -> dict:
    """The params.yaml of one scale: the project's params with the synthetic scale set.

    Validated with the project's loader, so a bad base file stops here with the
    usual one-line message rather than in the middle of a stage.
    """
    base = params_from_dict(raw)
    synthetic = synthetic_for_events(events, base.data.synthetic)
    out = deep_update(
        copy.deepcopy(raw or {}),
        {
            "data": {
                "source": "data/raw/synthetic",
                "synthetic": {"users": synthetic.users, "artists": synthetic.artists},
            },
            # The benchmark runs no backtest (STAGES): publish CatBoost, the model
            # whose scoring it measures, instead of `auto` (which reads offline.json).
            "playlists": {"model": "catboost"},
        },
    )
    if catboost_iterations is not None:
        deep_update(out, {"catboost": {"iterations": catboost_iterations}})
    params_from_dict(out)
    return out


def count_lines(paths: Sequence[Path]) -> int:
    """Lines (events) in JSON-lines files, plain or gzip, read in 16 MB blocks."""
    total = 0
    for path in paths:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as fh:
            while block := fh.read(1 << 24):
                total += block.count(b"\n")
    return total


def dump_sessions(dump: Path) -> list[Path]:
    files = sorted(dump.glob("sessions*.jsonl*"))
    if not files:
        raise PozytywkaError(f"the generator wrote no sessions file in {dump}")
    return files


def reference_agreement(reference: Path, weekly: Path) -> float | None:
    """Share of (week, track) keys on which the reference and the pipeline agree.

    Keys present on one side only count as disagreements (popularity 0 vs > 0).
    Not 1.0 when ingest repairs what the reference does not (null users, duplicate
    track ids, bad event types); the value says how much those repairs matter.
    """
    import pandas as pd

    if not reference.exists() or not weekly.exists():
        return None
    ref = pd.read_parquet(reference, columns=["week_start", "track_id", "popularity"])
    pip = pd.read_parquet(weekly, columns=["week_start", "track_id", "popularity"])
    for frame in (ref, pip):
        frame["week_start"] = pd.to_datetime(frame["week_start"]).astype("datetime64[us]")
        frame["track_id"] = frame["track_id"].astype(str)
    ref = ref[ref["popularity"] > 0]
    pip = pip[pip["popularity"] > 0]
    both = ref.merge(pip, on=["week_start", "track_id"], how="outer", suffixes=("_r", "_p"))
    if both.empty:
        return None
    equal = both["popularity_r"].fillna(0) == both["popularity_p"].fillna(0)
    return round(float(equal.mean()), 6)


def _parquet_rows(path: Path) -> int | None:
    if not path.exists():
        return None
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


def _stage_cmd(stage: str) -> list[str]:
    return [sys.executable, "-m", "pozytywka.cli", "--params", "params.yaml", stage]


def bench_env(pycache: Path) -> dict[str, str]:
    """The environment of every measured process.

    Bytecode caching is switched on, into a folder of the benchmark's own
    (``PYTHONPYCACHEPREFIX``), even when the caller set ``PYTHONDONTWRITEBYTECODE``:
    without it every stage recompiles pandas, pandera and the rest from source
    (about 4 s per process on this machine), a cost no user with a normal
    install pays. :func:`warm_up` fills the cache before anything is timed.
    """
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPYCACHEPREFIX": str(pycache)}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def warm_up(work: Path, env: dict[str, str]) -> Measurement:
    """Import every stage once (reported apart) so the bytecode cache is warm."""
    modules = ", ".join(f"pozytywka.stages.{s}" for s in STAGES)
    code = f"import {modules}, pozytywka.bench.reference, pozytywka.cli as c; c.build_parser()"
    return run_measured(
        [sys.executable, "-c", code], work, work / "warm_up.log", env, what="warm-up imports"
    )


def profile_stage(stage: str, folder: Path, out: Path, env: dict[str, str]) -> Path:
    """Rerun ``stage`` under cProfile and write its 30 costliest functions to ``out``.

    Used to answer "which function in which module is slow" when a target is
    missed; the profiled run is not the timed one (profiling slows Python code).
    """
    import pstats

    prof = folder / f"{stage}.prof"
    args = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "pozytywka.cli"]
    run_measured(
        [*args, "--params", "params.yaml", stage],
        folder,
        folder / "logs" / f"{stage}.profile.log",
        env,
        what=f"profiling {stage}",
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        stats = pstats.Stats(str(prof), stream=fh)
        stats.sort_stats("cumulative").print_stats(30)
        stats.sort_stats("tottime").print_stats(20)
    return out


def run_scale(
    events: int, folder: Path, config: BenchConfig, raw_params: dict, env: dict[str, str]
) -> dict[str, Any]:
    """Generate a dump of about ``events`` events in ``folder``; measure every stage on it."""
    folder.mkdir(parents=True, exist_ok=True)
    params = scale_params(raw_params, events, config.catboost_iterations)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), encoding="utf-8")
    synthetic = params_from_dict(params).data.synthetic
    logs = folder / "logs"
    stages: dict[str, dict[str, float]] = {}
    result: dict[str, Any] = {
        "target_events": events,
        "synthetic": {
            "users": synthetic.users,
            "artists": synthetic.artists,
            "weeks": synthetic.weeks,
            "sessions_per_user_week": synthetic.sessions_per_user_week,
            "events_per_session": synthetic.events_per_session,
            "expected_events": round(expected_events(synthetic)),
        },
        "catboost_iterations": params_from_dict(params).catboost.iterations,
        "stages": stages,
    }
    for stage in STAGES:
        if stage == "ingest":
            # The dump exists now: count it and time the reference on the same files.
            dump = folder / "data" / "raw" / "synthetic"
            files = dump_sessions(dump)
            result["events"] = count_lines(files)
            result["dump_mb"] = round(sum(f.stat().st_size for f in files) / 2**20, 1)
            log.info("bench %s: dump has %s session events", events, f"{result['events']:,}")
            ref = run_measured(
                [sys.executable, "-m", "pozytywka.bench.reference", str(dump), "reference.parquet"],
                folder,
                logs / "reference.log",
                env,
                what="the reference query",
            )
            result["reference"] = ref.as_dict()
            log.info("bench %s: reference query %.1f s", events, ref.seconds)
        m: Measurement = run_measured(
            _stage_cmd(stage), folder, logs / f"{stage}.log", env, what=f"stage {stage}"
        )
        stages[stage] = m.as_dict()
        log.info("bench %s: %s %.1f s, peak %.0f MB", events, stage, m.seconds, m.peak_rss_mb)
    processed = folder / "data" / "processed"
    result["weekly_rows"] = _parquet_rows(processed / "weekly_popularity.parquet")
    result["feature_rows"] = _parquet_rows(processed / "features.parquet")
    result["reference_agreement"] = reference_agreement(
        folder / "reference.parquet", processed / "weekly_popularity.parquet"
    )
    train_metrics = folder / "metrics" / "train.json"
    if train_metrics.exists():
        result["train_metrics"] = json.loads(train_metrics.read_text(encoding="utf-8"))
    for stage in config.profile:
        out = config.out_dir / f"profile_{stage}_{result['events']}.txt"
        profile_stage(stage, folder, out, env)
        log.info("bench %s: cProfile of %s -> %s", events, stage, out)
    return report.summarise_scale(result)


def copy_like_a_clone(root: Path, dest: Path) -> None:
    """Copy the files git tracks or would track, as a fresh clone has them, minus the
    pipeline's outputs (data, models, dvc.lock, metrics, reports): a clean slate for
    `dvc repro` (the benchmark's no-op timing and the end-to-end test)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        rel = raw.decode()
        src = root / rel
        # Under data/, git holds only pipeline files (data/dvc.yaml: `generate`) and the
        # .dvc files of dumps versioned with `dvc add`; the data itself is DVC's.
        in_git_data = rel.startswith("data/") and rel.endswith(("/dvc.yaml", ".dvc"))
        if not src.is_file() or rel.startswith(("models/", "node_modules/")):
            continue
        if rel.startswith("data/") and not in_git_data:
            continue
        if rel.endswith("dvc.lock") or rel.startswith(("metrics/", "reports/")):
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def _stages_run(output: str) -> list[str]:
    return sorted(set(re.findall(r"Running stage '([^']+)'", output)))


def measure_noop_repro(root: Path, work: Path, env: dict[str, str]) -> dict[str, Any]:
    """Time ``dvc repro`` (and ``dvc status``) on an up-to-date copy of the project."""
    if not (root / "dvc.yaml").exists():
        raise PozytywkaError(
            f"bench --noop-repro: no dvc.yaml in {root}; run from the project root"
        )
    repo = work / "noop_repro"
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    copy_like_a_clone(root, repo)
    params = read_yaml(repo / "params.yaml")
    (repo / "params.yaml").write_text(
        yaml.safe_dump(deep_update(params, NOOP_TINY), sort_keys=False), encoding="utf-8"
    )
    env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], [*git, "commit", "-qm", "bench"]):
        subprocess.run(cmd, cwd=repo, env=env, check=True, capture_output=True)
    dvc = str(Path(sys.executable).parent / "dvc")
    logs = repo / "bench_logs"
    first = run_measured([dvc, "repro"], repo, logs / "repro1.log", env, what="dvc repro")
    second = run_measured([dvc, "repro"], repo, logs / "repro2.log", env, what="dvc repro")
    status = run_measured([dvc, "status"], repo, logs / "status.log", env, what="dvc status")
    return {
        "scale": NOOP_TINY["data"]["synthetic"],
        "first_repro": first.as_dict(),
        "stages_first": _stages_run((logs / "repro1.log").read_text(encoding="utf-8")),
        "noop_repro": second.as_dict(),
        "stages_rerun": _stages_run((logs / "repro2.log").read_text(encoding="utf-8")),
        "dvc_status": status.as_dict(),
    }


def machine() -> dict[str, Any]:
    """Where the numbers come from (they mean little without it)."""
    import duckdb
    import pandas as pd

    mem_gb = None
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        mem_gb = round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gb": mem_gb,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pandas": pd.__version__,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        # the day the numbers were measured: quoted figures must say when (issue 10)
        "date_utc": time.strftime("%Y-%m-%d", time.gmtime()),
    }


def run_bench(config: BenchConfig) -> dict[str, Any]:
    """Run every scale (smallest first) and return the ``bench.json`` structure."""
    params_path = Path(config.params_path)
    if not params_path.exists():
        raise PozytywkaError(f"bench: {params_path} not found (run from the project root)")
    raw_params = read_yaml(params_path) or {}
    work = Path(config.work_dir) if config.work_dir else Path(tempfile.mkdtemp(prefix="pz-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    bench: dict[str, Any] = {"machine": machine(), "scales": []}
    try:
        env = bench_env(work / "pycache")
        bench["warm_up_imports"] = warm_up(work, env).as_dict()
        for events in sorted(config.scales):
            folder = work / f"events_{events}"
            if folder.exists():
                shutil.rmtree(folder)
            bench["scales"].append(run_scale(events, folder, config, raw_params, env))
            if not config.keep:
                shutil.rmtree(folder, ignore_errors=True)
        bench["noop_repro"] = (
            measure_noop_repro(Path(config.project_root).resolve(), work, env)
            if config.noop_repro
            else None
        )
    finally:
        if not config.keep and not config.work_dir:
            shutil.rmtree(work, ignore_errors=True)
    bench["scaling"] = report.scaling(bench["scales"])
    bench["targets"] = report.targets(bench["scales"], bench["noop_repro"])
    bench["total_bench_seconds"] = round(time.time() - started, 1)
    return bench
