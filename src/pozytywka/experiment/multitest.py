"""Several metrics, one verdict: multiplicity corrections and ratio metrics.

**Multiplicity.** The primary metric (play-through rate) keeps its full alpha; the
secondary metrics are a family whose p-values are corrected together, so that
"some secondary metric moved" is not a near-certainty by chance alone:

- Holm (S. Holm, "A simple sequentially rejective multiple test procedure",
  Scandinavian Journal of Statistics 6(2), 1979): sort the m p-values
  ``p_(1) <= ... <= p_(m)``; the adjusted ``p~_(i) = max_{j <= i} min(1, (m - j + 1) p_(j))``;
  reject where ``p~ < alpha``. Controls the family-wise error rate.
- Benjamini-Hochberg (Benjamini & Hochberg, JRSS B 57(1), 1995): adjusted
  ``p~_(i) = min_{j >= i} min(1, m p_(j) / j)``, computed by
  ``scipy.stats.false_discovery_control``. Controls the false discovery rate.

**Ratio metrics.** Plays per session is ``sum(plays) / sum(sessions)`` over an arm's
listeners: the unit of randomisation (the listener) is not the unit of the metric (the
session), so sessions of one listener are not independent and the naive variance is
too small. The delta method on per-listener sums ``X`` (plays) and ``Y`` (sessions)
(Deng, Knoblich & Lu, "Applying the Delta Method in Metric Analytics", KDD 2018,
§2; Kohavi, Tang & Xu 2020, ch. 18) gives

    Var(mean(X) / mean(Y)) ~= (1/n) (s_X^2 / mu_Y^2 - 2 mu_X s_XY / mu_Y^3 + mu_X^2 s_Y^2 / mu_Y^4)

with sample means, variances and covariance over the ``n`` listeners (ddof 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy import stats

CORRECTIONS = ("holm", "bh")


def holm_adjust(p_values: Mapping[str, float | None]) -> dict[str, float | None]:
    """Holm's step-down adjusted p-values (formula in the module docstring).

    Metrics whose p-value is None are left out of the family (and stay None).
    """
    known = sorted(((p, k) for k, p in p_values.items() if p is not None))
    m = len(known)
    out: dict[str, float | None] = {k: None for k in p_values}
    running = 0.0
    for i, (p, k) in enumerate(known):
        running = max(running, min(1.0, (m - i) * p))
        out[k] = running
    return out


def bh_adjust(p_values: Mapping[str, float | None]) -> dict[str, float | None]:
    """Benjamini-Hochberg adjusted p-values (scipy's ``false_discovery_control``)."""
    keys = [k for k, p in p_values.items() if p is not None]
    out: dict[str, float | None] = {k: None for k in p_values}
    if keys:
        adj = stats.false_discovery_control([float(p_values[k]) for k in keys], method="bh")
        out.update({k: float(v) for k, v in zip(keys, adj, strict=True)})
    return out


def adjust(p_values: Mapping[str, float | None], method: str) -> dict[str, float | None]:
    """Adjusted p-values by ``method`` (``holm`` or ``bh``)."""
    if method == "holm":
        return holm_adjust(p_values)
    if method == "bh":
        return bh_adjust(p_values)
    raise ValueError(f"unknown correction {method!r}: one of {CORRECTIONS}")


def ratio_and_variance(x: np.ndarray, y: np.ndarray) -> tuple[float | None, float | None]:
    """``(sum(x) / sum(y), its delta-method variance)`` over units with values ``x``, ``y``.

    None where undefined: fewer than 2 units, or ``sum(y) == 0``. Formula and sources
    in the module docstring.
    """
    x = np.asarray(x, dtype="float64")
    y = np.asarray(y, dtype="float64")
    n = len(x)
    if n < 2 or y.sum() <= 0:
        return None, None
    mx, my = x.mean(), y.mean()
    cov = np.cov(x, y, ddof=1)
    var = (cov[0, 0] / my**2 - 2 * mx * cov[0, 1] / my**3 + mx**2 * cov[1, 1] / my**4) / n
    return float(mx / my), float(max(var, 0.0))


def ratio_compare(
    x_a: np.ndarray, y_a: np.ndarray, x_b: np.ndarray, y_b: np.ndarray, alpha: float
) -> dict:
    """B against A on the ratio metric ``sum(x) / sum(y)`` per arm (delta method).

    The relative lift ``rB/rA - 1`` with the log-ratio interval and z-test (as
    :func:`pozytywka.experiment.stats.log_ratio_lift`, with each arm's ratio variance
    from :func:`ratio_and_variance`): ``se^2 = var_B / rB^2 + var_A / rA^2``. Returns
    ``mean_a``, ``mean_b`` (the ratios), ``diff``, ``lift``, ``ci_low``, ``ci_high``,
    ``p_value``, ``se_log`` (None where undefined: an empty arm, a zero ratio or no
    variance).
    """
    ra, va = ratio_and_variance(x_a, y_a)
    rb, vb = ratio_and_variance(x_b, y_b)
    out = {
        "mean_a": ra,
        "mean_b": rb,
        "diff": None if ra is None or rb is None else rb - ra,
        "lift": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "se_log": None,
    }
    if ra is None or rb is None or ra <= 0 or rb <= 0 or not (va > 0 and vb > 0):
        return out
    log_ratio = math.log(rb / ra)
    se = math.sqrt(vb / rb**2 + va / ra**2)
    z = stats.norm.ppf(1 - alpha / 2)
    out.update(
        lift=rb / ra - 1,
        ci_low=math.exp(log_ratio - z * se) - 1,
        ci_high=math.exp(log_ratio + z * se) - 1,
        p_value=float(2 * stats.norm.sf(abs(log_ratio) / se)),
        se_log=se,
    )
    return out
