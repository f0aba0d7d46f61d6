"""Several metrics: Holm / Benjamini-Hochberg on a hand-made p-value table, the
delta-method variance of a ratio metric by hand and against a bootstrap, and the
guardrails' non-inferiority verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pozytywka.experiment.guardrails import non_inferiority
from pozytywka.experiment.multitest import (
    adjust,
    bh_adjust,
    holm_adjust,
    ratio_and_variance,
    ratio_compare,
)

#: Hand-made family: m = 4.
P = {"likes": 0.01, "skips": 0.04, "plays_per_session": 0.03, "other": 0.005}


def test_holm_by_hand():
    # sorted: other .005 x4 = .02; likes .01 x3 = .03; pps .03 x2 = .06; skips .04 x1 = .04
    # -> running max: .02, .03, .06, .06
    adj = holm_adjust(P)
    assert adj == pytest.approx(
        {"other": 0.02, "likes": 0.03, "plays_per_session": 0.06, "skips": 0.06}
    )
    moved = sorted(k for k, p in adj.items() if p < 0.05)
    assert moved == ["likes", "other"]


def test_benjamini_hochberg_by_hand():
    # sorted .005, .01, .03, .04; m p / j = .02, .02, .04, .04; min from the top: same
    adj = bh_adjust(P)
    assert adj == pytest.approx(
        {"other": 0.02, "likes": 0.02, "plays_per_session": 0.04, "skips": 0.04}
    )
    assert all(p < 0.05 for p in adj.values())  # BH moves all four, Holm only two
    assert adjust(P, "bh") == adj and adjust(P, "holm") == holm_adjust(P)


def test_missing_p_values_stay_out_of_the_family():
    adj = holm_adjust({"a": 0.02, "b": None, "c": 0.5})
    assert adj == {"a": pytest.approx(0.04), "b": None, "c": pytest.approx(0.5)}
    with pytest.raises(ValueError):
        adjust({"a": 0.1}, "bonferroni")


def test_ratio_delta_method_by_hand():
    # plays 3, 5, 1 over sessions 1, 2, 1: mean x 3, mean y 4/3, var x 4, var y 1/3, cov 1
    # ratio 9/4; var = (1/3) (4 / (16/9) - 2 * 3 * 1 / (64/27) + 9 * (1/3) / (256/81))
    #                = (1/3) (2.25 - 2.53125 + 0.94921875) = 0.22265625
    r, v = ratio_and_variance(np.array([3.0, 5, 1]), np.array([1.0, 2, 1]))
    assert r == pytest.approx(2.25) and v == pytest.approx(0.22265625)
    assert ratio_and_variance(np.array([1.0]), np.array([1.0])) == (None, None)
    assert ratio_and_variance(np.array([1.0, 2]), np.array([0.0, 0])) == (None, None)


def test_ratio_delta_method_matches_a_bootstrap():
    """Hand-made listeners (plays, sessions), 60 of them: the delta-method variance of
    sum(plays)/sum(sessions) is within the bootstrap's own error of the bootstrap's."""
    sessions = np.array([1, 2, 3, 1, 4, 2, 1, 5, 2, 3] * 6, dtype=float)
    per_session = np.array([2, 5, 3, 9, 4, 6, 1, 7, 3, 8] * 6, dtype=float)
    plays = sessions * per_session + np.array([0, 1, 2] * 20)
    r, v = ratio_and_variance(plays, sessions)
    rng = np.random.default_rng(0)
    draws = 8000
    idx = rng.integers(0, len(plays), (draws, len(plays)))
    boot = plays[idx].sum(axis=1) / sessions[idx].sum(axis=1)
    v_boot = boot.var(ddof=1)
    # the bootstrap variance's relative standard error is about sqrt(2 / draws) = 1.6%;
    # with the delta method's own O(1/n) error, 3 of them plus 5% is the bound
    assert v == pytest.approx(v_boot, rel=3 * math.sqrt(2 / draws) + 0.05)
    assert r == pytest.approx(plays.sum() / sessions.sum())


def test_ratio_compare_lift_and_interval():
    x = np.array([3.0, 5, 1, 4]), np.array([1.0, 2, 1, 2])
    y = np.array([6.0, 7, 2, 5]), np.array([2.0, 2, 1, 2])
    c = ratio_compare(*x, *y, 0.05)
    ra, va = ratio_and_variance(*x)
    rb, vb = ratio_and_variance(*y)
    se = math.sqrt(va / ra**2 + vb / rb**2)
    assert c["lift"] == pytest.approx(rb / ra - 1)
    assert c["ci_low"] == pytest.approx(math.exp(math.log(rb / ra) - 1.959964 * se) - 1, rel=1e-5)
    assert (c["p_value"] < 0.05) == (c["ci_low"] > 0 or c["ci_high"] < 0)


def test_non_inferiority_verdicts():
    # change +1%, se 0.005 on the log scale at n = 10000: CS about +/- 1.5%
    ok = non_inferiority("skip rate", math.log(1.01), 0.005, 10000, 0.05, 0.05, 10000)
    assert ok["status"] == "pass" and ok["cs_high"] < 0.05 and "within" in ok["note"]
    bad = non_inferiority("skip rate", math.log(1.12), 0.005, 10000, 0.05, 0.05, 10000)
    assert bad["status"] == "fail" and bad["cs_low"] > 0.05 and "+12.00%" in bad["note"]
    unsure = non_inferiority("skip rate", math.log(1.04), 0.005, 10000, 0.05, 0.05, 10000)
    assert unsure["status"] == "not shown" and unsure["cs_low"] < 0.05 < unsure["cs_high"]
    none = non_inferiority("skip rate", None, None, 0, 0.05, 0.05, 10000)
    assert none["status"] == "not shown" and none["change"] is None
