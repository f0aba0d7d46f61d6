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
"""

from __future__ import annotations

import math

import numpy as np

from .multitest import ratio_and_variance
from .sequential import _r, cs_halfwidth, cs_rho

STATUSES = ("pass", "fail", "not shown")


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
