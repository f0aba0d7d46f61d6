"""Stage ``ab_peeking``: does the always-valid read-out hold when looked at every day?

Simulates ``ab.peeking.runs`` runs of the experiment's whole horizon
(``ab.sequential.max_days``) on the synthetic world's behaviour model, each twice
(every listener served arm A's playlists, then B's), and reads
``ab.peeking.splits`` random splits of each run's listeners as A/A, full-effect and
diluted-effect experiments looked at every day and after every batch
(:mod:`pozytywka.experiment.peeking`). Writes ``metrics/ab_peeking.json`` (the
false-positive rates, power and days to a decision with their intervals),
``reports/ab/peeking.csv`` (the same table) and ``reports/ab/peeking.png``.

The runs are independent (each seeded by its index alone), so they run in up to
:data:`PROCESSES` worker processes and are gathered in run order: the outputs are
the same bytes whatever the number of processes.

Synthetic data only: on a real dump there is no behaviour model to ask, and the
stage says so in its outputs instead of failing.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

from .. import paths
from ..config import Params
from ..errors import PozytywkaError
from ..experiment.outcomes import mark_full_plays
from ..experiment.peeking import look_counts, run_experiments, simulation_error, summarise
from ..experiment.report import peeking_figure
from ..experiment.simulate import (
    experiment_week_seed,
    is_synthetic_source,
    shift_experiment_week,
    simulate_ab_week,
)
from ..io import read_json, save_figure, write_csv, write_json
from ..playlists.publish import served_track_lists

log = logging.getLogger(__name__)

PEEKING_JSON = paths.METRICS / "ab_peeking.json"
PEEKING_CSV = paths.AB_REPORTS / "peeking.csv"
PEEKING_PNG = paths.AB_REPORTS / "peeking.png"
#: Each run's seed: far from ``ab.seed``'s own streams (the experiment's weeks).
RUN_SEED_BASE = 1_000_003
#: Worker processes for the runs (the machine's cores, at most): each builds its own world.
PROCESSES = max(1, min(2, os.cpu_count() or 1))


def _run_outcomes(world, week, users, served, seed, weeks, start, looks_s):
    """``(plays, full_plays)`` users x looks of one simulation with ``served`` for everyone."""
    assignment = pd.DataFrame({"user_id": users, "arm": "A"})
    codes = {u: i for i, u in enumerate(users)}
    parts = []
    for k in range(weeks):
        ev = simulate_ab_week(
            world, week, assignment, {"A": served, "B": served}, experiment_week_seed(seed, k)
        )
        ev = shift_experiment_week(ev, k)
        counted = ev["source"].eq("playlist").to_numpy()
        full = mark_full_plays(ev).to_numpy()
        ev = ev.loc[counted]
        parts.append(
            (
                ev["user_id"].astype(str).map(codes).to_numpy(),
                (pd.to_datetime(ev["timestamp"]) - start).dt.total_seconds().to_numpy(),
                ev["event_type"].eq("play").to_numpy(),
                full[counted],
            )
        )
    cat = [np.concatenate(x) for x in zip(*parts, strict=True)]
    return look_counts(*cat, len(users), looks_s)


def _one_run(task) -> list:
    """Run ``r`` of the simulation: the world served A, then B, read as
    ``ab.peeking.splits`` experiments (:func:`run_experiments`). A module-level
    function, so a worker process can run it."""
    params, served, start, week, users, looks_s, r = task
    from ..synthetic import build_world

    ab = params.ab
    peek, seq = ab.peeking, ab.sequential
    world = build_world(params.data.synthetic)
    weeks = math.ceil(seq.max_days / 7)
    seed = RUN_SEED_BASE + r
    log.info("peeking run %d/%d: %d weeks served A, then B", r + 1, peek.runs, weeks)
    out_a = _run_outcomes(world, week, users, served["A"], seed, weeks, start, looks_s)
    out_b = _run_outcomes(world, week, users, served["B"], seed, weeks, start, looks_s)
    rng = np.random.default_rng([seed, 1])
    return run_experiments(
        out_a,
        out_b,
        rng,
        peek.splits,
        ab.split,
        peek.dilution,
        ab.alpha,
        seq.tuning_n,
        peek.looks_per_day,
        seq.planned_days,
        run=r,
    )


def run(params: Params) -> None:
    ab = params.ab
    peek, seq = ab.peeking, ab.sequential
    if not is_synthetic_source(params.data.source):
        note = "real dump: no behaviour model to simulate experiments with (synthetic data only)"
        log.info("ab_peeking: %s", note)
        write_csv(PEEKING_CSV, pd.DataFrame(columns=["kind", "readout", "rate"]))
        save_figure(PEEKING_PNG, peeking_figure(pd.DataFrame(), ab.alpha, note))
        write_json(PEEKING_JSON, {"note": note})
        return
    from ..synthetic import build_world

    docs = {
        arm: read_json(paths.PLAYLISTS_BY_MODEL / f"{model}.json")
        for arm, model in (("A", "baseline"), ("B", "catboost"))
    }
    served = {arm: served_track_lists(doc) for arm, doc in docs.items()}
    world = build_world(params.data.synthetic)
    start = pd.Timestamp(docs["B"]["week_start"])
    week = world.week_index(start)
    if not 0 <= week <= params.data.synthetic.weeks:
        raise PozytywkaError(f"playlists are for {start.date()}, outside the synthetic world")
    users = sorted(pd.read_parquet(paths.INTERIM_USERS)["user_id"].astype(str))
    n_looks = seq.max_days * peek.looks_per_day
    looks_s = (np.arange(1, n_looks + 1) * 86400.0 / peek.looks_per_day).astype("float64")
    tasks = [(params, served, start, week, users, looks_s, r) for r in range(peek.runs)]
    if PROCESSES > 1 and peek.runs > 1:
        # spawn: a clean interpreter per worker (no fork of DuckDB's or BLAS's threads)
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(PROCESSES, mp_context=ctx) as pool:
            per_run = []
            for r, done in enumerate(pool.map(_one_run, tasks)):
                log.info("peeking run %d/%d done", r + 1, peek.runs)
                per_run.append(done)
    else:
        per_run = [_one_run(t) for t in tasks]
    experiments = [e for run_experiments_ in per_run for e in run_experiments_]
    table = summarise(experiments)
    n = peek.runs * peek.splits
    aa = table[table["kind"] == "A/A"].set_index("readout")
    metrics = {
        "alpha": ab.alpha,
        "experiments_per_kind": n,
        "runs": peek.runs,
        "splits_per_run": peek.splits,
        "users": len(users),
        "max_days": seq.max_days,
        "planned_days": seq.planned_days,
        "looks_per_day_batch": peek.looks_per_day,
        "dilution": peek.dilution,
        "simulation_error": round(simulation_error(ab.alpha, n), 6),
        "sequential_within_alpha": bool(
            aa.loc["sequential_daily", "rate"] <= ab.alpha + simulation_error(ab.alpha, n)
            and aa.loc["sequential_batch", "rate"] <= ab.alpha + simulation_error(ab.alpha, n)
        ),
        # no NaN in JSON: a read-out that never stopped has no mean days (null)
        "table": table.astype(object).where(table.notna(), None).to_dict("records"),
    }
    write_csv(PEEKING_CSV, table)
    save_figure(PEEKING_PNG, peeking_figure(table, ab.alpha))
    write_json(PEEKING_JSON, metrics)
    for row in table.itertuples():
        log.info(
            "%s %s: %d/%d = %.3f [%.3f, %.3f], mean days %s",
            row.kind,
            row.readout,
            row.stopped,
            row.experiments,
            row.rate,
            row.rate_ci_low,
            row.rate_ci_high,
            row.mean_days,
        )
