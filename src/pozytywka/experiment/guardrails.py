"""Guardrails: metrics B must not make worse by more than a margin (non-inferiority).

A guardrail is declared in ``params.yaml`` (``ab.guardrails``) with a relative
margin ``m``: B passes when we are confident its metric is at most ``m`` worse than
A's. For a metric where higher is worse (the skip rate) the hypotheses are
``H0: rB/rA - 1 >= m`` against ``H1: rB/rA - 1 < m`` (a non-inferiority test with a
margin: ICH E9 / EMA "Points to consider on switching between superiority and
non-inferiority", CPMP/EWP/482/99, 2000; in online experiments, Spotify's
"Risk-aware product decisions in A/B tests with multiple metrics", 2024).

The test reads the always-valid CS of the relative change (:mod:`.sequential`), so
it may be looked at every day like the primary metric: **pass** when the CS's upper
end is below the margin, **fail** when its lower end is above it (B is worse by more
than the margin), **not shown** otherwise. A guardrail that has not passed blocks
"ship B"; the read-out names it and says by how much (the estimate and the CS's upper
end against the margin).

The skip rate is the ratio metric ``sum(skips) / sum(plays)`` over an arm's listeners
(counted events, as the other metrics), its variance by the delta method
(:func:`pozytywka.experiment.multitest.ratio_and_variance`).

The answer latency p95 (``latency_p95``, :func:`latency_guardrail`) is the 95th
percentile of the server-side latency of an arm's requests (the service's store,
``requests.latency_ms``), compared as the ratio ``p95(B) / p95(A)``. Its interval is
a **confidence sequence for a quantile** (Howard & Ramdas, "Sequential estimation of
quantiles with applications to A/B-testing and best-arm identification", Bernoulli
28(3), 2022, arXiv:1906.09712, §2), so it may be looked at every day too. For a
continuous latency distribution ``F`` with p-quantile ``q``, the count
``N_t = #{i <= t: X_i <= q}`` of the first ``t`` requests is a Binomial(t, p)
process, and the beta-binomial mixture of its likelihood ratios,

    M_t(N) = B(a + N, b + t - N) / B(a, b) / (p^N (1 - p)^(t - N)),

with ``a = c p``, ``b = c (1 - p)``, is a nonnegative martingale with mean 1 (Howard,
Ramdas, McAuliffe & Sekhon, "Time-uniform, nonparametric, nonasymptotic confidence
sequences", Annals of Statistics 49(2), 2021, §3.3, the beta-binomial mixture), so by
Ville's inequality ``M_t(N_t) < 1/alpha`` at every ``t`` at once with probability at
least ``1 - alpha``. The counts ``N`` with ``M_t(N) < 1/alpha`` are an interval
``[N_lo, N_hi]`` (``log M_t`` is convex in ``N``), and ``N_lo <= N_t <= N_hi`` means
``X_(N_lo) <= q < X_(N_hi + 1)`` (order statistics, 1-based): the quantile's CS,
distribution-free. The concentration ``c = 1/rho^2 - 1`` gives the Beta mixing
distribution the variance ``p (1 - p) rho^2`` that the normal mixture of
:mod:`.sequential` has, so with ``rho = cs_rho(alpha, N*)`` the sequence is tightest
near ``N*`` requests per arm (``ab.sequential.tuning_n``). Each arm's CS is at
``alpha / 2`` (Bonferroni), so the ratio's CS ``[lo_B / hi_A, hi_B / lo_A]`` holds at
``1 - alpha``; the verdict reads it as the skip rate's (pass / fail / not shown against
``1 + margin``). The estimate is the empirical p95, ``X_(ceil(0.95 t))`` (the inverted
empirical CDF, Hyndman & Fan's definition 1).

Assumptions, said plainly: the requests are treated as independent draws of the
arm's latency (latency is a property of the server's work per request; load that
varies over the week hits both arms alike, since their requests interleave), and
ties are negligible (times measured to the microsecond).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import betaln

from .multitest import ratio_and_variance
from .sequential import _r, cs_halfwidth, cs_rho

STATUSES = ("pass", "fail", "not shown")
#: The latency quantile the ``latency_p95`` guardrail compares.
LATENCY_QUANTILE = 0.95
LATENCY_NAME = "answer latency p95"
#: Why the ``ab_test`` stage shows no latency verdict (it enters no decision there).
LATENCY_NOT_SIMULATED = (
    "not measured: the ab_test stage simulates listeners, not a server, so no request "
    "has a latency; the service's live read-out checks it"
)


def non_inferiority(
    name: str,
    estimate_log: float | None,
    se_log: float | None,
    n: int,
    margin: float,
    alpha: float,
    tuning_n: float,
) -> dict:
    """A higher-is-worse guardrail's verdict from the log ratio ``log(B/A)`` and its ``se``.

    Returns ``name``, ``change`` (``B/A - 1``), ``cs_low``/``cs_high`` (the always-valid
    CS of the change at ``alpha``), ``margin``, ``status`` (``pass``/``fail``/``not
    shown``, module docstring) and ``note`` (one line in words). Without an estimate
    (an empty arm, no variance) the status is ``not shown``.
    """
    out = {
        "name": name,
        "change": None,
        "cs_low": None,
        "cs_high": None,
        "margin": margin,
        "status": "not shown",
        "note": f"{name}: not enough data to compare the arms",
    }
    if estimate_log is None or se_log is None or not se_log > 0 or n < 2:
        return out
    h = float(cs_halfwidth(se_log, n, alpha, cs_rho(alpha, tuning_n)))
    change, lo, hi = (math.exp(estimate_log + d) - 1 for d in (0.0, -h, h))
    limit = math.log1p(margin)
    status = (
        "pass"
        if estimate_log + h < limit
        else ("fail" if estimate_log - h > limit else "not shown")
    )
    words = {
        "pass": "within",
        "fail": "worse than",
        "not shown": "not yet shown within",
    }[status]
    out.update(
        change=_r(change),
        cs_low=_r(lo),
        cs_high=_r(hi),
        status=status,
        note=(
            f"{name} {change:+.2%} in B vs A (CS {lo:+.2%} to {hi:+.2%}): {words} the "
            f"non-inferiority margin of {margin:+.2%}"
        ),
    )
    return out


def ratio_guardrail(
    name: str,
    x_a: np.ndarray,
    y_a: np.ndarray,
    x_b: np.ndarray,
    y_b: np.ndarray,
    margin: float,
    alpha: float,
    tuning_n: float,
) -> dict:
    """:func:`non_inferiority` of the ratio metric ``sum(x)/sum(y)`` (e.g. skips / plays)."""
    ra, va = ratio_and_variance(x_a, y_a)
    rb, vb = ratio_and_variance(x_b, y_b)
    out_rates = {"mean_a": _r(ra), "mean_b": _r(rb)}
    if ra is None or rb is None or ra <= 0 or rb <= 0 or not (va > 0 and vb > 0):
        return {**non_inferiority(name, None, None, 0, margin, alpha, tuning_n), **out_rates}
    est = math.log(rb / ra)
    se = math.sqrt(va / ra**2 + vb / rb**2)
    n = len(x_a) + len(x_b)
    return {**non_inferiority(name, est, se, n, margin, alpha, tuning_n), **out_rates}


def mixture_log_martingale(n_below: np.ndarray, t: int, p: float, c: float) -> np.ndarray:
    """``log M_t(N)`` of the beta-binomial mixture (module docstring) for counts ``N``.

    ``n_below``: counts in ``0..t`` of the first ``t`` observations at or below the
    candidate quantile; ``p`` in (0, 1); ``c > 0`` the Beta's concentration (``a = c p``,
    ``b = c (1 - p)``). Equal to ``log(betabinom.pmf(N, t, a, b) / binom.pmf(N, t, p))``
    (the binomial coefficients cancel). Howard et al. 2021, §3.3.
    """
    n = np.asarray(n_below, dtype="float64")
    a, b = c * p, c * (1 - p)
    return betaln(a + n, b + t - n) - betaln(a, b) - n * math.log(p) - (t - n) * math.log1p(-p)


def count_bounds(t: int, p: float, alpha: float, c: float) -> tuple[int, int] | None:
    """``(N_lo, N_hi)``: the counts ``N`` in ``0..t`` with ``M_t(N) < 1/alpha``, or None when
    none are (cannot happen for ``t >= 0``: kept for safety). The set is an interval
    since ``log M_t`` is convex in ``N``."""
    logm = mixture_log_martingale(np.arange(t + 1), t, p, c)
    inside = np.flatnonzero(logm < -math.log(alpha))
    if not len(inside):
        return None
    return int(inside[0]), int(inside[-1])


def mixture_concentration(alpha: float, tuning_n: float) -> float:
    """The Beta mixture's concentration ``c = 1/rho^2 - 1`` with ``rho = cs_rho(alpha, N*)``
    (module docstring): the mixing variance ``p (1 - p) rho^2`` of :mod:`.sequential`'s
    normal mixture. At least 1e-9 (a ``tuning_n`` so small that ``rho >= 1``)."""
    return max(1.0 / cs_rho(alpha, tuning_n) ** 2 - 1.0, 1e-9)


def quantile_cs(
    values: np.ndarray, p: float, alpha: float, c: float
) -> tuple[float | None, float | None, float | None]:
    """``(estimate, low, high)`` of the ``p``-quantile of ``values`` (module docstring).

    ``estimate``: ``X_(ceil(p t))``; ``low``: ``X_(N_lo)``, 0.0 when ``N_lo = 0`` (no
    lower bound: latencies are >= 0); ``high``: ``X_(N_hi + 1)``, None when ``N_hi = t``
    (no upper bound yet). All None without values. Valid at every ``t`` at once with
    probability ``1 - alpha`` (Howard & Ramdas 2022); ``c``: :func:`mixture_concentration`.
    """
    x = np.sort(np.asarray(values, dtype="float64"))
    t = len(x)
    if t == 0:
        return None, None, None
    bounds = count_bounds(t, p, alpha, c)
    estimate = float(x[max(math.ceil(p * t), 1) - 1])
    if bounds is None:
        return estimate, None, None
    n_lo, n_hi = bounds
    low = float(x[n_lo - 1]) if n_lo >= 1 else 0.0
    high = float(x[n_hi]) if n_hi < t else None
    return estimate, low, high


def ratio_verdict(
    name: str,
    a: tuple[float | None, float | None, float | None],
    b: tuple[float | None, float | None, float | None],
    margin: float,
) -> dict:
    """Non-inferiority of ``B / A`` (higher is worse) from each arm's ``(estimate, low, high)``.

    The ratio's interval is ``[low_B / high_A, high_B / low_A]``: the upper end None
    (unbounded) when ``high_B`` is missing or ``low_A`` is 0, the lower end 0 when
    ``high_A`` is missing; ``change``/``cs_low``/``cs_high`` are
    ``ratio - 1``. **pass** when ``high_B / low_A - 1 < margin``, **fail** when
    ``low_B / high_A - 1 > margin``, else **not shown**. Keys as
    :func:`non_inferiority`'s.
    """
    (ea, la, ha), (eb, lb, hb) = a, b

    def div(x: float | None, y: float | None) -> float | None:
        return None if x is None or y is None or not y > 0 else x / y - 1

    change, hi = div(eb, ea), div(hb, la)
    # no upper bound for A yet: B / A may be near 0 (a lower end of -100%)
    lo = -1.0 if lb is not None and ha is None else div(lb, ha)
    status = (
        "pass"
        if hi is not None and hi < margin
        else ("fail" if lo is not None and lo > margin else "not shown")
    )
    words = {"pass": "within", "fail": "worse than", "not shown": "not yet shown within"}[status]

    def pct(v: float | None) -> str:
        return "unbounded" if v is None else f"{v:+.2%}"

    note = (
        f"{name}: not enough data to compare the arms"
        if change is None
        else f"{name} {change:+.2%} in B vs A (CS {pct(lo)} to {pct(hi)}): {words} the "
        f"non-inferiority margin of {margin:+.2%}"
    )
    return {
        "name": name,
        "change": _r(change),
        "cs_low": _r(lo),
        "cs_high": _r(hi),
        "margin": margin,
        "status": status if change is not None else "not shown",
        "note": note,
    }


def latency_guardrail(
    latency_a: np.ndarray,
    latency_b: np.ndarray,
    margin: float,
    alpha: float,
    tuning_n: float,
) -> dict:
    """The ``latency_p95`` guardrail: :func:`ratio_verdict` of the arms' p95 CS
    (:func:`quantile_cs` at ``alpha / 2`` each), plus ``p95_a``/``p95_b`` (ms) and
    ``requests_a``/``requests_b`` (the requests with a latency)."""
    c = mixture_concentration(alpha / 2, tuning_n)
    arms = [quantile_cs(v, LATENCY_QUANTILE, alpha / 2, c) for v in (latency_a, latency_b)]
    out = ratio_verdict(LATENCY_NAME, arms[0], arms[1], margin)
    out.update(
        p95_a=_r(arms[0][0]),
        p95_b=_r(arms[1][0]),
        requests_a=len(latency_a),
        requests_b=len(latency_b),
    )
    return out


def latency_not_measured(margin: float, why: str) -> dict:
    """The ``latency_p95`` guardrail where no latency exists (the ``ab_test`` stage simulates
    none): status ``not shown`` with ``why``; keys as :func:`latency_guardrail`'s."""
    return {
        "name": LATENCY_NAME,
        "change": None,
        "cs_low": None,
        "cs_high": None,
        "margin": margin,
        "status": "not shown",
        "note": f"{LATENCY_NAME}: {why}",
        "p95_a": None,
        "p95_b": None,
        "requests_a": 0,
        "requests_b": 0,
    }
