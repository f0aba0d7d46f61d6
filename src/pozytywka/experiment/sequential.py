"""Always-valid read-outs: the asymptotic confidence sequence (CS) of the lift.

A fixed-horizon interval holds its 95% coverage only when it is looked at once, at
a size chosen in advance; looked at every day (or after every batch of events) and
stopped at the first significant look, it rejects a true null far more often than
alpha. A **confidence sequence** is a sequence of intervals that covers the true
effect at *every* look at once with probability ``1 - alpha``, so it can be looked
at as often as anyone likes and the experiment stopped whenever it excludes 0.

The form is the asymptotic CS of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas,
"Time-uniform central limit theory and asymptotic confidence sequences", Annals of
Statistics 2023 (arXiv:2103.06476), Theorem 2.2 (two-sided), as GrowthBook's
frequentist engine applies it to A/B tests (docs.growthbook.io/statistics/sequential):
for an estimator with standard error ``se`` after ``n`` units (here: listeners with
plays, both arms together),

    halfwidth = sigma * sqrt( 2 (n rho^2 + 1) / (n^2 rho^2) * log( sqrt(n rho^2 + 1) / alpha ) )

with ``sigma^2 = n * se^2`` (the per-unit variance the theorem's ``sigma_hat`` is:
for two arms ``se^2 = varA/nA + varB/nB``). The tuning parameter ``rho`` sets the
``n`` where the sequence is tightest; GrowthBook's "N*" form (Waudby-Smith et al.
2023, eq. (161) of the arXiv version, the ``rho`` minimising the width at ``n = N*``):

    rho = sqrt( ( -2 log(alpha) + log(-2 log(alpha) + 1) ) / N* )

``N*`` is ``ab.sequential.tuning_n`` in ``params.yaml``: the listeners with plays we
expect at the planned horizon (chosen before the experiment, not tuned on it).

The estimator is the one the fixed-horizon read-out uses (:mod:`.stats`): the log
ratio ``log(mB/mA)`` with its delta-method ``se`` when the relative lift is defined
(the CS is back-transformed with ``exp``, so it never reaches -100%), else the
difference ``mB - mA`` with ``se^2 = varA/nA + varB/nB``.

The **always-valid p-value** is the smallest alpha whose sequence (with ``rho`` held
at the configured alpha's) excludes 0; solving ``halfwidth = |estimate|`` for alpha:

    p = min(1, sqrt(n rho^2 + 1) * exp( -estimate^2 n^2 rho^2 / (2 sigma^2 (n rho^2 + 1)) ))

so ``p < alpha`` exactly when the CS at alpha excludes 0. Its running minimum over
looks is what a stopped experiment reports (Johari, Pekelis & Walsh, "Always valid
inference", Operations Research 2022, §3: an always-valid p-value may be reported as
the minimum so far).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

DIGITS = 6
METHOD = "asymptotic confidence sequence (Waudby-Smith et al. 2023; GrowthBook)"


def cs_rho(alpha: float, tuning_n: float) -> float:
    """The mixing parameter ``rho`` that makes the CS tightest at ``tuning_n`` units.

    ``rho = sqrt((-2 log a + log(-2 log a + 1)) / N*)`` (Waudby-Smith et al. 2023,
    eq. (161) of arXiv:2103.06476; GrowthBook's sequential tuning parameter N*).
    Raises ``ValueError`` outside ``0 < alpha < 1`` or for ``tuning_n <= 0``.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if not tuning_n > 0:
        raise ValueError(f"tuning_n must be > 0, got {tuning_n}")
    la = -2 * math.log(alpha)
    return math.sqrt((la + math.log(la + 1)) / tuning_n)


def cs_halfwidth(se: float, n: int, alpha: float, rho: float) -> float:
    """Half-width of the two-sided (1 - alpha) asymptotic CS of an estimate with ``se`` at ``n``.

    ``sigma * sqrt(2 (n rho^2 + 1) / (n rho)^2 * log(sqrt(n rho^2 + 1) / alpha))`` with
    ``sigma = se * sqrt(n)`` (Waudby-Smith et al. 2023, Theorem 2.2). Vectorised over
    arrays of ``se`` and ``n``.
    """
    n = np.asarray(n, dtype="float64")
    v = n * rho**2 + 1
    sigma = np.asarray(se, dtype="float64") * np.sqrt(n)
    return sigma * np.sqrt(2 * v / (n * rho) ** 2 * np.log(np.sqrt(v) / alpha))


def cs_p_value(estimate: float, se: float, n: int, rho: float) -> float:
    """Always-valid p-value: the smallest alpha whose CS (``rho`` fixed) excludes 0.

    ``min(1, sqrt(n rho^2 + 1) exp(-est^2 n^2 rho^2 / (2 sigma^2 (n rho^2 + 1))))`` with
    ``sigma^2 = n se^2``: :func:`cs_halfwidth` solved for alpha. Vectorised.
    """
    n = np.asarray(n, dtype="float64")
    v = n * rho**2 + 1
    sigma2 = np.asarray(se, dtype="float64") ** 2 * n
    est = np.asarray(estimate, dtype="float64")
    return np.minimum(1.0, np.sqrt(v) * np.exp(-(est**2) * n**2 * rho**2 / (2 * sigma2 * v)))


def _r(value: float | None) -> float | None:
    if value is None or not math.isfinite(float(value)):
        return None
    return round(float(value), DIGITS)


@dataclass(frozen=True)
class SequentialResult:
    """The CS of B against A at one look.

    ``lift``/``cs_low``/``cs_high``: relative (``mB/mA - 1``), None when the relative
    lift is undefined; ``diff``/``abs_cs_low``/``abs_cs_high``: the difference
    ``mB - mA`` with its own CS, always when both arms have 2+ values; ``p_value``:
    the always-valid p-value of the test the CS makes (log ratio when the lift is
    defined, else the difference); ``n``: units at this look (both arms).
    """

    n: int
    lift: float | None
    cs_low: float | None
    cs_high: float | None
    diff: float | None
    abs_cs_low: float | None
    abs_cs_high: float | None
    p_value: float | None

    @property
    def excludes_zero(self) -> int:
        """+1 when the CS lies above 0, -1 below, 0 when it holds 0 (or is undefined)."""
        lo, hi = (
            (self.cs_low, self.cs_high)
            if self.lift is not None
            else (self.abs_cs_low, self.abs_cs_high)
        )
        if lo is None or hi is None:
            return 0
        return 1 if lo > 0 else (-1 if hi < 0 else 0)

    def as_dict(self) -> dict:
        out = {k: _r(v) if isinstance(v, float) else v for k, v in asdict(self).items()}
        out["p_value"] = None if self.p_value is None else float(f"{self.p_value:.6g}")
        return out


def sequential_compare(
    a: np.ndarray, b: np.ndarray, alpha: float, tuning_n: float
) -> SequentialResult:
    """The asymptotic CS of B against A on per-unit values ``a``, ``b`` (1-D arrays).

    Log-ratio scale when both means are > 0 and both arms vary (as
    :func:`pozytywka.experiment.stats.compare`), else the absolute difference; the
    difference's CS is always given when each arm has 2+ values. See the module
    docstring for the formulas and their sources.
    """
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    n_a, n_b = len(a), len(b)
    n = n_a + n_b
    none = SequentialResult(n, None, None, None, None, None, None, None)
    if n_a < 2 or n_b < 2:
        return none
    rho = cs_rho(alpha, tuning_n)
    ma, mb = float(a.mean()), float(b.mean())
    va, vb = float(a.var(ddof=1)), float(b.var(ddof=1))
    diff = mb - ma
    se_abs = math.sqrt(va / n_a + vb / n_b)
    abs_lo = abs_hi = p_abs = None
    if se_abs > 0:
        h = float(cs_halfwidth(se_abs, n, alpha, rho))
        abs_lo, abs_hi = diff - h, diff + h
        p_abs = float(cs_p_value(diff, se_abs, n, rho))
    elif diff == 0:
        p_abs = 1.0
    if ma > 0 and mb > 0 and va > 0 and vb > 0:
        log_ratio = math.log(mb / ma)
        se = math.sqrt(vb / (n_b * mb**2) + va / (n_a * ma**2))
        h = float(cs_halfwidth(se, n, alpha, rho))
        p = float(cs_p_value(log_ratio, se, n, rho))
        return SequentialResult(
            n,
            mb / ma - 1,
            math.exp(log_ratio - h) - 1,
            math.exp(log_ratio + h) - 1,
            diff,
            abs_lo,
            abs_hi,
            p,
        )
    return SequentialResult(n, None, None, None, diff, abs_lo, abs_hi, p_abs)
