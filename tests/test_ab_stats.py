"""A/B statistics: false positives at alpha (A/A), power at the MDE, SRM, no NaN."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


def _phi(x: float) -> float:
    """Standard normal CDF from the error function (no scipy in the expected values)."""
    return 0.5 * math.erfc(-x / math.sqrt(2))


Z975 = 1.959963984540054  # z_{0.975}, from any normal table


def test_issue_case_zero_treatment_falls_back_to_welch_on_the_difference():
    """compare([1, 0, 0], [0, 0, 0]): was lift -100% with CI [-100%, -100%] and p = 0.42."""
    c = compare([1, 0, 0], [0, 0, 0], "likes_per_user", 0.05, 0.8)
    # B's mean is 0 and B has no variance: no relative lift (log 0), Welch on the difference.
    assert c.lift_defined is False and c.lift is None and c.ci_low is None and c.ci_high is None
    assert "no variance in arm B" in c.lift_note and c.test == "welch_t"
    # mA = 1/3, vA = ((2/3)^2 + 2 (1/3)^2) / 2 = 1/3; mB = 0, vB = 0.
    # se = sqrt(vA/3 + 0) = 1/3;  t = (0 - 1/3) / (1/3) = -1;
    # Welch df = (vA/3)^2 / ((vA/3)^2 / 2) = 2.
    # t with 2 df has CDF 1/2 + t / (2 sqrt(2 + t^2)): P(T > 1) = 1/2 - 1/(2 sqrt 3) = 0.211325
    # p = 2 * 0.211325 = 0.422650 (the issue's 0.42, now from the method that gives the CI)
    assert c.diff == pytest.approx(-1 / 3)
    assert c.p_value == c.abs_p_value == pytest.approx(1 - 1 / math.sqrt(3), abs=1e-9)
    # t_{0.975, 2} = 0.95 / sqrt(2 * 0.975 * 0.025) = 4.302653 (closed form for 2 df)
    t2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)
    # CI = -1/3 +- 4.302653 / 3 = [-1.767551, +1.100884]: contains 0, as p = 0.42 says
    assert c.abs_ci_low == pytest.approx(-1 / 3 - t2 / 3, abs=1e-9)
    assert c.abs_ci_high == pytest.approx(-1 / 3 + t2 / 3, abs=1e-9)
    # A rate in [0, 1]: the difference's interval is cut to [-1, 1].
    rate = compare([1, 0, 0], [0, 0, 0], "play_through_rate", 0.05, 0.8)
    assert (rate.abs_ci_low, rate.abs_ci_high) == (-1.0, 1.0)
    # A zero control mean: the lift is undefined too.
    zero_a = compare([0, 0, 0], [1, 0, 2], "likes_per_user", 0.05, 0.8)
    assert zero_a.lift is None and "control (A) mean is 0" in zero_a.lift_note


def test_issue_case_small_control_gets_a_log_ratio_interval_that_agrees_with_its_p():
    """compare([1,0,0,0], [2,3,2,1]): was +700% with CI [-900%, +2300%] and p = 0.015."""
    c = compare([1, 0, 0, 0], [2, 3, 2, 1], "likes_per_user", 0.05, 0.8)
    assert c.lift_defined is True and c.test == "log_ratio_z"
    # mA = 0.25, vA = (0.75^2 + 3 * 0.25^2) / 3 = 0.25; mB = 2, vB = (0 + 1 + 0 + 1) / 3 = 2/3
    # lift = 2 / 0.25 - 1 = 7 (+700%); log ratio = ln 8 = 2.0794415
    # se^2 = vB / (nB mB^2) + vA / (nA mA^2) = (2/3) / 16 + 0.25 / 0.25 = 1/24 + 1 = 1.0416667
    se = math.sqrt(1 / 24 + 1)  # 1.0206207
    assert c.lift == pytest.approx(7.0)
    # z = 2.0794415 / 1.0206207 = 2.037428;  p = 2 (1 - Phi(2.037428)) = 0.041607
    assert c.p_value == pytest.approx(2 * (1 - _phi(math.log(8) / se)), rel=1e-9)
    assert c.p_value == pytest.approx(0.041607, abs=1e-6)
    # CI: exp(2.0794415 +- 1.959964 * 1.0206207) - 1 = exp(0.0790617) - 1, exp(4.0798214) - 1
    #   = [+0.082271, +58.134908]: above 0 as p < 0.05 says, and never below -100%
    assert c.ci_low == pytest.approx(8 * math.exp(-Z975 * se) - 1, rel=1e-9)
    assert c.ci_high == pytest.approx(8 * math.exp(Z975 * se) - 1, rel=1e-9)
    assert c.ci_low == pytest.approx(0.082271, abs=1e-6)
    # Welch on the difference, reported beside: 1.75, se = sqrt(0.25/4 + (2/3)/4) = 0.478714,
    # t = 3.655631, df = 0.229167^2 / (0.0625^2/3 + 0.166667^2/3) = 4.972603, p = 0.014804
    assert c.diff == pytest.approx(1.75)
    assert c.abs_p_value == pytest.approx(0.014804, abs=1e-6)


def test_normal_case_hand_computed_lift_interval_and_test():
    a, b = [0.2, 0.4, 0.6, 0.8], [0.4, 0.6, 0.8, 1.0]
    c = compare(a, b, "play_through_rate", 0.05, 0.8)
    # mA = 0.5, mB = 0.7, vA = vB = (0.09 + 0.01 + 0.01 + 0.09) / 3 = 0.0666667
    # lift = 0.7 / 0.5 - 1 = +40%; log ratio = ln 1.4 = 0.3364722
    # se^2 = 0.0666667 / (4 * 0.49) + 0.0666667 / (4 * 0.25) = 0.0340136 + 0.0666667 = 0.1006803
    se = math.sqrt(0.2 / 3 / (4 * 0.49) + 0.2 / 3 / (4 * 0.25))  # 0.3173015
    assert c.lift == pytest.approx(0.4)
    # z = 0.3364722 / 0.3173015 = 1.060418; p = 2 (1 - Phi(1.060418)) = 0.288955
    assert c.p_value == pytest.approx(2 * (1 - _phi(math.log(1.4) / se)), rel=1e-9)
    # CI = 1.4 exp(+-1.959964 * 0.3173015) - 1 = exp(-0.2854274) - 1, exp(0.9583718) - 1
    #    = [-0.248307, +1.607448]
    assert c.ci_low == pytest.approx(1.4 * math.exp(-Z975 * se) - 1, rel=1e-9)
    assert c.ci_high == pytest.approx(1.4 * math.exp(Z975 * se) - 1, rel=1e-9)
    assert c.ci_low == pytest.approx(-0.248307, abs=1e-6)
    assert c.p_value == pytest.approx(0.288955, abs=1e-6)


def test_welch_worked_example_by_hand():
    """Welch's t on a = 1..4, b = 2a, with every step by hand (issue 10, item 2)."""
    c = compare([1, 2, 3, 4], [2, 4, 6, 8], "x", 0.05, 0.8)
    # mA = 2.5, vA = 5/3; mB = 5, vB = 20/3; se^2 = (5/3)/4 + (20/3)/4 = 25/12, se = 1.443376
    # t = 2.5 / 1.443376 = sqrt(3) = 1.732051
    # df = (25/12)^2 / (((5/12)^2 + (5/3)^2) / 3) = (625/144) / (425/432) = 75/17 = 4.411765
    # p = 2 P(T_{75/17} > sqrt 3) = 0.151581;  t_{0.975, 75/17} = 2.677174
    # CI = 2.5 +- 2.677174 * 1.443376 = [-1.364167, 6.364167]
    assert c.diff == 2.5
    assert c.abs_p_value == pytest.approx(2 * stats.t.sf(math.sqrt(3), 75 / 17), rel=1e-12)
    assert c.abs_p_value == pytest.approx(0.151581, abs=1e-6)
    assert c.abs_ci_low == pytest.approx(2.5 - 2.677174 * math.sqrt(25 / 12), abs=1e-5)
    assert c.abs_ci_high == pytest.approx(6.364167, abs=1e-6)


def test_mde_matches_van_belles_rule_of_16():
    """van Belle, Statistical Rules of Thumb (2008) §2.3: n = 16 s^2 / d^2 per arm at
    alpha 0.05, power 0.8. So with s^2 = 1 and 16 users per arm, d = 1 (of a mean of 1).
    Exactly: (1.959964 + 0.841621) * sqrt(1/16 + 1/16) = 2.801585 * 0.353553 = 0.990505
    (the rule's 16 rounds 2 * 2.801585^2 = 15.70)."""
    mde = mde_relative(1.0, 1.0, 16, 16, 1.0, 0.05, 0.8)
    assert mde == pytest.approx(1.0, rel=0.01)
    assert mde == pytest.approx(2.801585 * math.sqrt(2 / 16), abs=1e-6)
    # relative to the control mean: the same absolute effect on a mean of 4 is 0.990505 / 4
    assert mde_relative(1.0, 1.0, 16, 16, 4.0, 0.05, 0.8) == pytest.approx(mde / 4)


def test_srm_on_a_70_30_split_in_both_directions():
    """``split`` is the share in B. 700 A / 300 B is right for split 0.3, wrong for 0.7."""
    # observed 690 / 310 against expected 700 / 300:
    # chi^2 = 10^2/700 + 10^2/300 = 0.142857 + 0.333333 = 0.476190; 1 df:
    # p = erfc(sqrt(chi^2 / 2)) = 0.490153
    assert srm_p_value(690, 310, 0.3) == pytest.approx(math.erfc(math.sqrt(0.476190476 / 2)))
    assert srm_p_value(690, 310, 0.3) == pytest.approx(0.490153, abs=1e-6)
    # the mirror image: 310 A / 690 B with 70% planned in B
    assert srm_p_value(310, 690, 0.7) == pytest.approx(0.490153, abs=1e-6)
    # swapping the expected counts: 690 A against an expected 300 is a mismatch,
    # chi^2 = 390^2/300 + 390^2/700 = 724.29
    assert srm_p_value(690, 310, 0.7) < 1e-100
    assert srm_p_value(310, 690, 0.3) < 1e-100
    rng = np.random.default_rng(11)
    for split in (0.3, 0.7):
        n = 4000
        in_b = rng.random(n) < split
        outcomes = pd.DataFrame(
            {
                "user_id": [f"u{i}" for i in range(n)],
                "arm": np.where(in_b, "B", "A"),
                "plays": 5,
                "full_plays": rng.binomial(5, 0.6, n),
                "skips": rng.poisson(1, n),
                "likes": rng.poisson(0.2, n),
            }
        )
        good = analyse(outcomes, ABParams(split=split), "simulation")
        swapped = analyse(outcomes, ABParams(split=1 - split), "simulation")
        assert good["srm_p_value"] > 0.001
        assert swapped["srm_p_value"] < 0.001
        assert "sample ratio mismatch" in swapped["reason"]


@settings(max_examples=200, deadline=None)
@given(
    a=st.lists(st.integers(0, 5), min_size=2, max_size=12),
    b=st.lists(st.integers(0, 5), min_size=2, max_size=12),
)
def test_lift_interval_agrees_with_its_p_value_and_stays_above_minus_100(a, b):
    c = compare(a, b, "likes_per_user", 0.05, 0.8)
    if c.lift_defined:
        assert -1 < c.ci_low <= c.lift <= c.ci_high
        excludes_zero = c.ci_low > 0 or c.ci_high < 0
        assert (c.p_value < 0.05) == excludes_zero
    else:
        assert c.lift is None and c.ci_low is None and c.test in ("welch_t", None)
        if c.abs_ci_low is not None:
            excludes_zero = c.abs_ci_low > 0 or c.abs_ci_high < 0
            assert (c.p_value < 0.05) == excludes_zero


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
    assert m["fixed_horizon"]["decision"] == "inconclusive"
    assert m["decision"] == "keep running"  # a look mid-run: the sequence cannot decide yet
    assert analyse(outcomes, AB, "simulation", final=True)["decision"] == "inconclusive"
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
    fixed = m["fixed_horizon"]
    assert fixed["decision"] == "inconclusive" and "fewer listeners" in fixed["reason"]
    # the sequential read-out sees the same fall in reach: B is worse, keep A
    assert m["decision"] == "keep A" and "reaches fewer listeners" in m["reason"]


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
