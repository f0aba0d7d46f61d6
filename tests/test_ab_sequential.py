"""The always-valid read-out: hand-computed confidence sequences, and a seeded A/A
simulation with peeking in which the sequence keeps its error rate and the
fixed-horizon test does not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pozytywka.config import ABParams
from pozytywka.experiment.peeking import run_experiments, simulation_error, summarise
from pozytywka.experiment.sequential import cs_halfwidth, cs_p_value, cs_rho, sequential_compare


def test_rho_and_halfwidth_by_hand():
    # alpha 0.05, N* 10000: -2 ln 0.05 = 5.991465, ln(6.991465) = 1.944691,
    # rho = sqrt(7.936156 / 10000) = 0.0281712
    rho = cs_rho(0.05, 10000)
    assert rho == pytest.approx(0.0281712, abs=1e-7)
    # se 0.01 at n = 10000: sigma = 1, n rho^2 = 7.936156, v = 8.936156,
    # 2 v / (n rho)^2 = 17.872312 / 79361.56 = 2.252011e-4, ln(sqrt(v) / 0.05) = 4.090788,
    # halfwidth = sqrt(2.252011e-4 * 4.090788) = 0.0303521
    assert float(cs_halfwidth(0.01, 10000, 0.05, rho)) == pytest.approx(0.0303521, abs=1e-6)
    # wider than the fixed-horizon 1.96 * se, as the price of looking at any time
    assert float(cs_halfwidth(0.01, 10000, 0.05, rho)) > 1.96 * 0.01


def test_p_value_is_alpha_exactly_at_the_edge_of_the_sequence():
    rho = cs_rho(0.05, 5000)
    for n, se in ((100, 0.2), (5000, 0.01), (200000, 0.001)):
        h = float(cs_halfwidth(se, n, 0.05, rho))
        assert float(cs_p_value(h, se, n, rho)) == pytest.approx(0.05, rel=1e-9)
        assert (
            float(cs_p_value(1.01 * h, se, n, rho)) < 0.05 < float(cs_p_value(0.99 * h, se, n, rho))
        )
    assert float(cs_p_value(0.0, 0.1, 100, rho)) == 1.0


def test_sequential_compare_on_the_log_ratio():
    rng = np.random.default_rng(0)
    a = rng.beta(8, 2, 4000)
    b = np.clip(a[:3900] * 1.05, 0, 1)
    r = sequential_compare(a, b, 0.05, 10000)
    ma, mb = a.mean(), b.mean()
    se = math.sqrt(b.var(ddof=1) / (len(b) * mb**2) + a.var(ddof=1) / (len(a) * ma**2))
    h = float(cs_halfwidth(se, len(a) + len(b), 0.05, cs_rho(0.05, 10000)))
    assert r.lift == pytest.approx(mb / ma - 1)
    assert r.cs_low == pytest.approx(math.exp(math.log(mb / ma) - h) - 1)
    assert r.cs_high == pytest.approx(math.exp(math.log(mb / ma) + h) - 1)
    assert r.excludes_zero == 1 and r.p_value < 0.05
    # too few values: nothing, and no NaN
    small = sequential_compare(a[:1], b, 0.05, 10000)
    assert small.lift is None and small.p_value is None and small.excludes_zero == 0


def _fake_potential_outcomes(rng, n_users, days, looks_per_day, rate):
    """users x looks cumulative (plays, full plays): Poisson plays per look, each full
    with the user's own rate (heterogeneous, as listeners are)."""
    looks = days * looks_per_day
    activity = rng.gamma(0.8, 1.5 / looks_per_day, n_users)[:, None]
    plays = rng.poisson(np.broadcast_to(activity, (n_users, looks)))
    full = rng.binomial(plays, rate[:, None])
    return np.cumsum(plays, axis=1), np.cumsum(full, axis=1)


def test_aa_with_daily_peeking_keeps_the_sequential_rate_at_alpha():
    """Seeded A/A experiments looked at daily for 28 days and stopped at the first
    significant look: the sequential rate stays within alpha + 2 simulation errors,
    the fixed-horizon one read daily does not (the peeking problem)."""
    ab = ABParams()
    rng = np.random.default_rng(2026)
    experiments = []
    runs, splits = 10, 40
    for run in range(runs):
        rate = rng.beta(6, 2, 2000)
        out = _fake_potential_outcomes(rng, 2000, 28, 1, rate)
        experiments += run_experiments(
            out, out, rng, splits, 0.5, 0.0, ab.alpha, 2000, 1, 7, run=run
        )
    table = summarise(experiments).set_index(["kind", "readout"])
    n = runs * splits
    error = simulation_error(ab.alpha, n)
    seq = table.loc[("A/A", "sequential_daily")]
    fixed_daily = table.loc[("A/A", "fixed_daily")]
    fixed_once = table.loc[("A/A", "fixed_once")]
    assert seq["experiments"] == n
    assert seq["rate"] <= ab.alpha + error, seq
    assert fixed_daily["rate"] > ab.alpha + error, fixed_daily  # peeking inflates it
    # read once on the planned day, the fixed-horizon test is fine
    lo, hi = stats.binom.ppf(0.001, n, ab.alpha), stats.binom.isf(0.001, n, ab.alpha)
    assert lo <= fixed_once["stopped"] <= hi


def test_planted_effect_is_found_with_its_days_to_decision():
    ab = ABParams()
    rng = np.random.default_rng(7)
    rate = rng.beta(6, 2, 2000)
    out_a = _fake_potential_outcomes(np.random.default_rng(1), 2000, 28, 1, rate)
    out_b = _fake_potential_outcomes(
        np.random.default_rng(1), 2000, 28, 1, np.minimum(rate * 1.08, 1)
    )
    table = summarise(
        run_experiments(out_a, out_b, rng, 40, 0.5, 0.0, ab.alpha, 2000, 1, 7)
    ).set_index(["kind", "readout"])
    row = table.loc[("effect", "sequential_daily")]
    assert row["rate"] >= 0.9 and 1 <= row["mean_days"] <= 28


def _fake_experiment(quality_b: float, seed: int = 3):
    """A fake world's week 0 and a maker of further weeks, with B's tracks of ``quality_b``."""
    import pandas as pd

    from ab_fakes import FakeWorld, fake_simulate_week
    from pozytywka.experiment.assign import assign_arms
    from pozytywka.experiment.simulate import (
        counted_events,
        experiment_week_seed,
        shift_experiment_week,
        simulate_ab_week,
    )

    users = [f"u{i:04d}" for i in range(300)]
    quality = {f"a{i}": 0.6 for i in range(10)} | {f"b{i}": quality_b for i in range(10)}
    world = FakeWorld(users, quality)
    assignment = assign_arms(users, "salt", 0.5)
    served = {"A": [[f"a{i}" for i in range(10)]], "B": [[f"b{i}" for i in range(10)]]}

    def week(k):
        ev = simulate_ab_week(
            world, 30, assignment, served, experiment_week_seed(seed, k), fake_simulate_week
        )
        ev = shift_experiment_week(ev, k)
        return ev, counted_events(ev, assignment, served)

    return (*week(0), assignment, pd.Timestamp(world.week_start(30)), week)


def test_the_stage_runs_more_weeks_until_a_decision_or_the_maximum():
    from pozytywka.config import ABSequentialParams, Params
    from pozytywka.stages.ab_test import _looks

    params = Params()
    ab = ABParams(sequential=ABSequentialParams(tuning_n=300, planned_days=7, max_days=14))
    params = type(params)(**{**params.__dict__, "ab": ab})
    # no effect: no decision, so a second week is simulated up to the maximum of 14 days
    events, counted, assignment, start, more = _fake_experiment(0.6)
    daily, rows, decided = _looks(params, events, counted, assignment, start, more)
    assert [r["day"] for r in rows] == list(range(1, 15))
    assert all(r["decision"] == "keep running" for r in rows[:-1])
    assert decided == 14 and rows[-1]["decision"] == "inconclusive"
    # counts accrue across the weeks: day 14 holds both weeks' plays
    assert (daily[14]["plays"] >= daily[7]["plays"]).all()
    assert daily[14]["plays"].sum() > 1.5 * daily[7]["plays"].sum()
    # a large effect: decided within the week, and the looks stop at the planned day
    events, counted, assignment, start, more = _fake_experiment(0.95)
    daily, rows, decided = _looks(params, events, counted, assignment, start, more)
    assert decided is not None and decided <= 7 and rows[decided - 1]["decision"] == "ship B"
    assert [r["day"] for r in rows] == list(range(1, 8))


def test_a_read_out_that_never_stops_has_no_mean_days():
    from pozytywka.experiment.peeking import Experiment

    never = [Experiment("A/A", 0, s, {"sequential_daily": (-1, 0)}) for s in range(4)]
    once = [Experiment("A/A", 0, 9, {"sequential_daily": (3.0, 1)})]
    table = summarise(never)
    assert table.loc[0, "stopped"] == 0 and table.loc[0, "mean_days"] is None
    row = summarise(never + once).iloc[0]
    assert row["stopped"] == 1 and row["rate"] == 0.2 and row["mean_days"] == 3.0
