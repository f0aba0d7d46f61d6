"""The answer-latency guardrail (issue 23 item 4): the quantile confidence sequence, the
ratio's verdict, on hand-made data with hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import betabinom, binom

from pozytywka.experiment.guardrails import (
    count_bounds,
    latency_guardrail,
    latency_not_measured,
    mixture_concentration,
    mixture_log_martingale,
    quantile_cs,
    ratio_verdict,
)


def test_the_mixture_martingale_by_hand():
    # t = 2, p = 1/2, a = b = 1 (c = 2): M(N) = B(1 + N, 3 - N) / B(1, 1) / (1/2)^2
    # N = 0: (1/3) * 4 = 4/3; N = 1: (1/6) * 4 = 2/3; N = 2: 4/3
    got = np.exp(mixture_log_martingale(np.arange(3), 2, 0.5, 2.0))
    assert got == pytest.approx([4 / 3, 2 / 3, 4 / 3])
    # the same as the beta-binomial pmf over the binomial pmf (another route)
    n = np.arange(31)
    ratio = betabinom.pmf(n, 30, 0.95 * 50, 0.05 * 50) / binom.pmf(n, 30, 0.95)
    assert np.exp(mixture_log_martingale(n, 30, 0.95, 50.0)) == pytest.approx(ratio, rel=1e-9)


def test_the_counts_inside_the_sequence_by_hand():
    # t = 2, c = 2: M = (4/3, 2/3, 4/3); inside where M < 1/alpha
    assert count_bounds(2, 0.5, 0.74, 2.0) == (0, 2)  # 1/0.74 = 1.351 > 4/3: all
    assert count_bounds(2, 0.5, 0.76, 2.0) == (1, 1)  # 1/0.76 = 1.316 < 4/3: only N = 1


def test_the_quantile_sequence_is_order_statistics_by_hand():
    # t = 4, p = 1/2, c = 2: M(N) = 16 N! (4 - N)! / 5! = 16 / (5 C(4, N)):
    # 3.2, 0.8, 0.533, 0.8, 3.2. alpha = 0.5 (1/alpha = 2): N in [1, 3], so the
    # median is in [X_(1), X_(4)]; its estimate X_(ceil(2)) = X_(2).
    x = np.array([30.0, 10.0, 40.0, 20.0])
    assert quantile_cs(x, 0.5, 0.5, 2.0) == (20.0, 10.0, 40.0)
    # alpha = 0.3 (1/alpha = 3.33 > 3.2): every count -> no bound on either side
    assert quantile_cs(x, 0.5, 0.3, 2.0) == (20.0, 0.0, None)
    assert quantile_cs(np.array([]), 0.5, 0.5, 2.0) == (None, None, None)


def test_the_concentration_matches_the_normal_mixture():
    # alpha = 0.025, N* = 10000: -2 ln 0.025 = 7.3778, ln(8.3778) = 2.1256,
    # rho^2 = 9.5034 / 10000, c = 1 / rho^2 - 1 = 1051.25
    assert mixture_concentration(0.025, 10000) == pytest.approx(1051.25, abs=0.05)


def test_the_ratio_verdict_by_hand():
    a = (100.0, 90.0, 110.0)  # A's p95 100 ms, CS [90, 110]
    # B [100, 108]: high 108 / 90 = +20%, low 100 / 110 = -9.09%: holds the +10% margin
    held = ratio_verdict("p95", a, (105.0, 100.0, 108.0), 0.10)
    assert held["status"] == "not shown" and held["change"] == pytest.approx(0.05)
    assert held["cs_low"] == pytest.approx(100 / 110 - 1, abs=1e-6)
    assert held["cs_high"] == pytest.approx(0.2, abs=1e-6)
    # B [92, 98]: 98 / 90 = +8.89% < +10%: pass
    assert ratio_verdict("p95", a, (95.0, 92.0, 98.0), 0.10)["status"] == "pass"
    # B [125, 130]: 125 / 110 = +13.6% > +10%: fail, said in the note
    failed = ratio_verdict("p95", a, (127.0, 125.0, 130.0), 0.10)
    assert failed["status"] == "fail" and failed["change"] == pytest.approx(0.27)
    assert failed["note"] == (
        "p95 +27.00% in B vs A (CS +13.64% to +44.44%): worse than the non-inferiority "
        "margin of +10.00%"
    )
    # no upper bound for B, no lower one for A: unbounded above, never a pass
    loose = ratio_verdict("p95", (100.0, 0.0, None), (95.0, 92.0, None), 0.10)
    assert loose["status"] == "not shown" and loose["cs_high"] is None
    assert loose["cs_low"] == -1.0 and "unbounded" in loose["note"]


def test_the_latency_guardrail_on_a_grid():
    # A: 1, 2, ..., 2000 ms; p95 = X_(1900) = 1900 ms. B = 1.5 A (p95 2850): +50%, fail;
    # B = A: the same p95, pass (the counts' CS is about +-30 of 2000, +-1.6% of 1900)
    a = np.arange(1, 2001, dtype=float)
    slow = latency_guardrail(a, 1.5 * a, 0.10, 0.05, 10000)
    assert (slow["p95_a"], slow["p95_b"], slow["change"]) == (1900.0, 2850.0, 0.5)
    assert slow["status"] == "fail" and slow["cs_low"] > 0.4
    same = latency_guardrail(a, a[::-1].copy(), 0.10, 0.05, 10000)
    assert same["status"] == "pass" and same["change"] == 0.0
    assert -0.05 < same["cs_low"] < 0 < same["cs_high"] < 0.05
    assert (same["requests_a"], same["requests_b"]) == (2000, 2000)
    # too few requests: no upper bound for the p95, nothing shown yet
    few = latency_guardrail(a[:20], a[:20], 0.10, 0.05, 10000)
    assert few["status"] == "not shown" and few["cs_high"] is None
    empty = latency_guardrail(np.array([]), a, 0.10, 0.05, 10000)
    assert empty["status"] == "not shown" and "not enough data" in empty["note"]
    stage = latency_not_measured(0.1, "not simulated")
    assert stage["status"] == "not shown" and stage["note"] == "answer latency p95: not simulated"


def test_the_sequence_covers_the_p95_at_every_look():
    """Seeded: 400 runs of 1,000 exponential latencies, each looked at after every request;
    the share of runs where the alpha = 0.1 sequence ever misses the true p95 (ln 20) stays
    at or below alpha plus two simulation errors (sqrt(0.1 * 0.9 / 400) = 0.015)."""
    rng = np.random.default_rng(23)
    alpha, p, t_max, runs = 0.1, 0.95, 1000, 400
    q = math.log(20)  # the p95 of Exp(1)
    c = mixture_concentration(alpha, 500)
    t = np.arange(1, t_max + 1)
    counts = np.cumsum(rng.exponential(size=(runs, t_max)) <= q, axis=1)
    # the sequence misses q at look t exactly when M_t(N_t) >= 1/alpha
    missed = (mixture_log_martingale(counts, t, p, c) >= -math.log(alpha)).any(axis=1)
    assert missed.mean() <= alpha + 2 * math.sqrt(alpha * (1 - alpha) / runs)
    # and it does narrow: at t = 1000 the p95's CS is within about 25% of it
    x = rng.exponential(size=t_max)
    est, lo, hi = quantile_cs(x, p, alpha, c)
    assert lo < q < hi and (hi - lo) / q < 0.5
