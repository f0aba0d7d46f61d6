"""Benchmark of the recommenders: fit time and peak memory at 1x and 10x the listeners.

Each model is fitted in a fresh subprocess (so peak RSS is its own) on the
interactions before the last complete week, then recommends 20 tracks for every
listener active in that week. 10x listeners: the interactions are replicated ten
times with renamed listeners (the same tracks, so item-side costs stay put and
listener-side costs grow tenfold). Writes ``reports/bench/recs.{json,md}``.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time

import numpy as np
import pandas as pd

from .. import paths
from ..config import load_params
from ..io import write_json, write_text
from ..markdown import table
from ..recs.report import RECOMMENDERS

MODELS = RECOMMENDERS


def _scaled(interactions: pd.DataFrame, users: pd.DataFrame, factor: int):
    if factor == 1:
        return interactions, users
    inter = pd.concat(
        [interactions.assign(user_id=interactions["user_id"] + f"~{i}") for i in range(factor)],
        ignore_index=True,
    )
    us = pd.concat(
        [users.assign(user_id=users["user_id"].astype(str) + f"~{i}") for i in range(factor)],
        ignore_index=True,
    )
    return inter, us


def measure(model: str, factor: int) -> dict:
    """Fit one model (tuned hyper-params from models/recs/tuned.json) and time it."""
    from ..recs.evaluate import fit_model
    from ..recs.interactions import active_users, catalogue, relevant, train_data
    from ..recs.models import FALLBACK

    rp = load_params().recs
    hyper = json.loads(paths.RECS_TUNED.read_text())["hyper"]
    inter, users = _scaled(
        pd.read_parquet(paths.RECS_INTERACTIONS), pd.read_parquet(paths.INTERIM_USERS), factor
    )
    cat = catalogue(
        inter,
        users,
        pd.read_parquet(paths.INTERIM_TRACKS),
        pd.read_parquet(paths.INTERIM_TRACK_GENRES),
    )
    week = sorted(inter["week_start"].unique())[-1]
    data = train_data(inter, week, cat, rp.weights)
    act = active_users(relevant(inter, week, cat))
    fb = fit_model(FALLBACK, {**hyper[FALLBACK], "seed": rp.seed}, data, None)
    t0, c0 = time.perf_counter(), time.process_time()
    m = fit_model(model, {**hyper[model], "seed": rp.seed}, data, fb)
    fit_s, fit_cpu = time.perf_counter() - t0, time.process_time() - c0
    t0 = time.perf_counter()
    m.recommend(act, 20, rp.exclude_seen)
    rec_s = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "model": model,
        "listeners_x": factor,
        "listeners": int(data.n_users),
        "interactions": int(data.matrix.nnz),
        "fit_seconds": round(fit_s, 2),
        "fit_cpu_seconds": round(fit_cpu, 2),
        "recommend_seconds": round(rec_s, 2),
        "recommended_listeners": int(len(act)),
        "peak_rss_mb": round(peak, 1),
    }


def _write(rows: list[dict]) -> None:
    write_json(paths.BENCH_REPORTS / "recs.json", {"runs": rows})
    cols = list(rows[0])
    md = (
        "# Recommenders: fit time and peak memory\n\n"
        + table(cols, [[r[c] for c in cols] for r in rows], "l" + "r" * (len(cols) - 1))
        + "\n\nPeak RSS is the whole process (data loading included). The two-stage "
        "model's cost is its candidate model's plus the CatBoost ranker (recs_evaluate's log).\n"
    )
    write_text(paths.BENCH_REPORTS / "recs.md", md)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--one":
        print(json.dumps(measure(argv[1], int(argv[2]))))
        return 0
    factors = [int(f) for f in (argv or ["1", "10"])]
    rows: list[dict] = []
    for factor in factors:
        for model in MODELS:
            out = subprocess.run(
                [sys.executable, "-m", "pozytywka.bench.recs", "--one", model, str(factor)],
                capture_output=True,
                text=True,
                check=True,
            )
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(rows[-1], flush=True)
            _write(rows)  # after each run: an interrupted bench keeps what it measured
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
