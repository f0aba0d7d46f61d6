"""A/B statistics: false positives at alpha (A/A), power at the MDE, SRM, no NaN."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ab_fakes import FakeWorld, fake_simulate_week
from pozytywka.config import ABParams
from pozytywka.experiment.assign import assign_arms
from pozytywka.experiment.outcomes import user_outcomes
from pozytywka.experiment.simulate import counted_events, simulate_ab_week
from pozytywka.experiment.stats import analyse, compare, decide, mde_relative, srm_p_value

AB = ABParams()


def fake_outcomes(rng: np.random.Generator, n: int, ptr_b_factor: float = 1.0) -> pd.DataFrame:
    """Per-user outcomes like a playlist week's: many silent users, uneven activity,
    users who differ in how much they play through. Arm B's rate is scaled by
    ``ptr_b_factor`` (1.0: an A/A test)."""
    arm = np.where(rng.random(n) < AB.split, "B", "A")
    active = rng.random(n) < 0.35
    plays = np.where(active, 1 + rng.negative_binomial(2, 0.3, n), 0)
    p_user = rng.beta(6, 2.2, n)
    p_user = np.where(arm == "B", np.clip(p_user * ptr_b_factor, 0, 1), p_user)
    full = rng.binomial(plays, p_user)
    return pd.DataFrame(
        {
            "user_id": [f"u{i:05d}" for i in range(n)],
            "arm": arm,
            "plays": plays,
            "full_plays": full,
            "skips": plays - full,
            "likes": rng.binomial(full, 0.1),
        }
    )


def _binomial_bounds(n: int, p: float, tail: float = 0.001) -> tuple[int, int]:
    """Counts outside these happen with probability < 2 * tail if the rate is p."""
    return int(stats.binom.ppf(tail, n, p)), int(stats.binom.isf(tail, n, p))


RUNS = 400
N_USERS = 3000


def test_aa_rejects_at_about_alpha():
    """Both arms alike: p < alpha in about alpha of the seeds, and the interval covers 0."""
    rejections = covered = 0
    for seed in range(RUNS):
        m = analyse(fake_outcomes(np.random.default_rng(seed), N_USERS), AB, "simulation")
        rejections += m["p_value"] < AB.alpha
        covered += m["ci_low"] <= 0 <= m["ci_high"]
    lo, hi = _binomial_bounds(RUNS, AB.alpha)
    assert lo <= rejections <= hi, (rejections, lo, hi)
    lo, hi = _binomial_bounds(RUNS, 1 - AB.alpha)
    assert lo <= covered <= hi, (covered, lo, hi)


def test_planted_effect_detected_with_about_the_configured_power():
    """B's play-through rate higher by exactly the MDE: detected about ``power`` of the time."""
    # The MDE for this many users, as a planner would measure it on A/A data.
    pilot = [
        analyse(fake_outcomes(np.random.default_rng(10_000 + s), N_USERS), AB, "x")["mde"]
        for s in range(20)
    ]
    factor = 1 + float(np.mean(pilot))
    hits = 0
    for seed in range(RUNS):
        m = analyse(fake_outcomes(np.random.default_rng(seed), N_USERS, factor), AB, "x")
        hits += m["p_value"] < AB.alpha and m["lift"] > 0
    lo, hi = _binomial_bounds(RUNS, AB.power)
    assert lo <= hits <= hi, (hits, lo, hi, factor)


def test_aa_through_the_simulator_pipeline():
    """The same check through simulate -> events -> full plays -> outcomes (a small fake
    world with the simulator's signature): the event pipeline adds no false positives."""
    users = [f"u{i:04d}" for i in range(400)]
    tracks = {f"t{i:02d}": 0.55 for i in range(40)}
    world = FakeWorld(users, tracks)
    assignment = assign_arms(users, AB.salt, AB.split)
    same = [list(tracks)[:15]]
    served = {"A": same, "B": same}
    runs = 60
    rejections = 0
    for seed in range(runs):
        events = simulate_ab_week(world, 30, assignment, served, seed, fake_simulate_week)
        counted = counted_events(events, assignment, served)
        m = analyse(user_outcomes(events, assignment, counted), AB, "simulation")
        rejections += m["p_value"] < AB.alpha
    lo, hi = _binomial_bounds(runs, AB.alpha)
    assert lo <= rejections <= hi, (rejections, lo, hi)


def test_srm_is_flagged_when_the_split_is_skewed():
    rng = np.random.default_rng(3)
    n = 10000
    arms = np.where(rng.random(n) < 0.54, "B", "A")  # planned 50/50, got 54/46
    outcomes = pd.DataFrame(
        {
            "user_id": [f"u{i}" for i in range(n)],
            "arm": arms,
            "plays": 5,
            "full_plays": rng.binomial(5, 0.6, n),
            "skips": rng.poisson(1, n),
            "likes": rng.poisson(0.2, n),
        }
    )
    m = analyse(outcomes, AB, "simulation")
    assert m["srm_p_value"] < 0.001
    assert m["decision"] == "inconclusive" and "sample ratio mismatch" in m["reason"]
    # The hash assignment itself passes the check.
    real = assign_arms([f"u{i}" for i in range(n)], AB.salt, AB.split)
    sizes = real["arm"].value_counts()
    assert srm_p_value(int(sizes["A"]), int(sizes["B"]), AB.split) > 0.001


def test_compare_matches_scipy_and_the_delta_method():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 0.3, 500), rng.normal(1.1, 0.35, 400)
    c = compare(a, b, "x", 0.05, 0.8)
    assert c.p_value == pytest.approx(stats.ttest_ind(b, a, equal_var=False).pvalue)
    ma, mb = a.mean(), b.mean()
    se = math.sqrt(b.var(ddof=1) / (400 * ma**2) + mb**2 * a.var(ddof=1) / (500 * ma**4))
    assert c.lift == pytest.approx(mb / ma - 1)
    assert c.ci_low == pytest.approx(mb / ma - 1 - 1.959963984540054 * se)
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert c.mde == pytest.approx(z * math.sqrt(a.var(ddof=1) / 500 + b.var(ddof=1) / 400) / ma)


def test_degenerate_arms_give_nulls_not_nan():
    outcomes = pd.DataFrame(
        {
            "user_id": ["a", "b", "c"],
            "arm": ["A", "A", "B"],
            "plays": [0, 0, 3],
            "full_plays": [0, 0, 2],
            "skips": [0, 0, 1],
            "likes": [0, 0, 0],
        }
    )
    m = analyse(outcomes, AB, "simulation")
    assert m["lift"] is None and m["p_value"] is None and m["mde"] is None
    assert m["decision"] == "inconclusive"
    assert m["arms"]["A"]["play_through_rate"] is None
    assert mde_relative(None, 1.0, 10, 10, 0.5, 0.05, 0.8) is None


def test_decision_follows_significance_and_direction():
    rng = np.random.default_rng(1)
    a = rng.normal(0.60, 0.2, 3000)
    up = compare(a, rng.normal(0.66, 0.2, 3000), "play_through_rate", 0.05, 0.8)
    down = compare(a, rng.normal(0.54, 0.2, 3000), "play_through_rate", 0.05, 0.8)
    flat = compare(a, rng.normal(0.60, 0.2, 30), "play_through_rate", 0.05, 0.8)
    assert decide(up, 0.5, 0.05)[0] == "ship B"
    assert decide(down, 0.5, 0.05)[0] == "keep A"
    assert decide(flat, 0.5, 0.05)[0] == "inconclusive"


def test_a_rate_that_rises_because_fewer_users_play_is_not_shipped():
    """Guardrail: B's rate is higher only among the few users it still reaches."""
    rng = np.random.default_rng(5)
    out = fake_outcomes(rng, 6000)
    b = out["arm"] == "B"
    # In B, only the keenest third of the active users still play at all, at a higher rate.
    keen = rng.random(len(out)) < 0.33
    out.loc[b & ~keen, ["plays", "full_plays", "skips", "likes"]] = 0
    out.loc[b, "full_plays"] = rng.binomial(out.loc[b, "plays"], 0.97)
    out.loc[b, "skips"] = out.loc[b, "plays"] - out.loc[b, "full_plays"]
    m = analyse(out, AB, "simulation")
    assert m["lift"] > 0 and m["p_value"] < AB.alpha
    assert m["secondary"]["full_plays_per_user"]["lift"] < 0
    assert m["decision"] == "inconclusive" and "fewer listeners" in m["reason"]


def aa_outcomes_with_covariates(seed: int, n: int, factor: float = 1.0) -> pd.DataFrame:
    """Like :func:`fake_outcomes`, with each user's pre-period drawn from the same rate."""
    rng = np.random.default_rng(seed)
    arm = np.where(rng.random(n) < AB.split, "B", "A")
    p_user = rng.beta(6, 2.2, n)
    plays = np.where(rng.random(n) < 0.7, 1 + rng.negative_binomial(3, 0.2, n), 0)
    p_week = np.where(arm == "B", np.clip(p_user * factor, 0, 1), p_user)
    full = rng.binomial(plays, p_week)
    pre_plays = rng.poisson(25, n)
    return pd.DataFrame(
        {
            "user_id": [f"u{i:05d}" for i in range(n)],
            "arm": arm,
            "plays": plays,
            "full_plays": full,
            "skips": plays - full,
            "likes": rng.binomial(full, 0.1),
            "pre_plays": pre_plays,
            "pre_full_plays": rng.binomial(pre_plays, p_user),
            "fav_on_shelf": (rng.random(n) < 0.5).astype(int),
        }
    )


def test_cuped_reduces_variance_and_stays_unbiased_under_aa():
    """A/A with a pre-period that predicts the week: CUPED rejects at about alpha, its lifts
    centre on 0, and its interval is narrower than the plain one (same users)."""
    runs = 200
    rejections = 0
    lifts, ratio = [], []
    for seed in range(runs):
        m = analyse(aa_outcomes_with_covariates(seed, 3000), AB, "simulation")
        c = m["cuped"]
        assert c["covariates"] == ["pre_play_through_rate", "fav_on_shelf"]
        rejections += c["p_value"] < AB.alpha
        lifts.append(c["lift"])
        ratio.append(c["mde"] / m["mde"])
        assert c["variance_reduction"] > 0.1
    lo, hi = _binomial_bounds(runs, AB.alpha)
    assert lo <= rejections <= hi, (rejections, lo, hi)
    # unbiased: the mean lift is within 3 standard errors of 0
    assert abs(np.mean(lifts)) < 3 * np.std(lifts) / np.sqrt(runs)
    assert np.mean(ratio) < 0.95


def test_cuped_detects_a_planted_effect_more_often_than_the_plain_test():
    plain = cuped = 0
    for seed in range(100):
        m = analyse(aa_outcomes_with_covariates(seed, 3000, factor=1.02), AB, "simulation")
        plain += m["p_value"] < AB.alpha
        cuped += m["cuped"]["p_value"] < AB.alpha
    assert cuped > plain


def test_no_covariates_no_cuped():
    m = analyse(fake_outcomes(np.random.default_rng(1), 500), AB, "simulation")
    assert "cuped" not in m
