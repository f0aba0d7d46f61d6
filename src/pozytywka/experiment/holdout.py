"""The global holdout's read-out: the held-out listeners against everyone else.

A share ``ab.holdout`` of listeners (:func:`pozytywka.experiment.assign.arm_of`:
arm ``"H"``, hashed with ``ab.holdout_salt``, apart from the arms) is served the
baseline (arm A's output) in every experiment key. They are simulated (or logged)
like everyone, but left out of the A/B comparison; this module compares them with
the listeners in the experiment (A and B pooled), which estimates the effect of
everything being tried or launched against none of it. Same statistics as the
arms (:func:`pozytywka.experiment.stats.compare`: the log-ratio lift of the
experiment's listeners over the holdout, Welch's difference beside it).
"""

from __future__ import annotations

import pandas as pd

from ..config import ABParams
from .assign import HOLDOUT
from .stats import ARM_METRICS, PRIMARY, compare, per_user_values

DIGITS = 6


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def experiment_only(outcomes: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``outcomes`` in arm A or B (the held-out listeners dropped)."""
    return outcomes.loc[outcomes["arm"].isin(["A", "B"])].reset_index(drop=True)


def holdout_readout(outcomes: pd.DataFrame, ab: ABParams) -> dict:
    """The ``holdout`` block of ``metrics/ab.json`` from per-user outcomes
    (:data:`~pozytywka.experiment.outcomes.OUTCOME_COLUMNS`, arm ``A``/``B``/``H``).

    Keys: ``share``, ``salt`` (the params), ``users`` (held out), the holdout's
    :data:`~pozytywka.experiment.stats.ARM_METRICS` (``None`` without users), and
    ``experiment_vs_holdout``: the primary metric of the A and B listeners pooled
    against the holdout's (``lift``, ``ci_low``, ``ci_high``, ``p_value``, ``diff``;
    ``None`` where :func:`compare` cannot compute it, e.g. fewer than 2 users)."""
    pooled = outcomes.assign(arm=outcomes["arm"].map({HOLDOUT: "A", "A": "B", "B": "B"}))
    n_h = int((outcomes["arm"] == HOLDOUT).sum())
    block: dict = {"share": ab.holdout, "salt": ab.holdout_salt, "users": n_h}
    for m in ARM_METRICS:
        values = per_user_values(pooled, m)["A"]
        block[m] = _r(values.mean()) if len(values) else None
    a, b = per_user_values(pooled, PRIMARY).values()
    c = compare(a, b, PRIMARY, ab.alpha, ab.power)
    block["experiment_vs_holdout"] = {
        "metric": PRIMARY,
        "users_with_plays": {"holdout": c.n_a, "experiment": c.n_b},
        "lift": _r(c.lift),
        "ci_low": _r(c.ci_low),
        "ci_high": _r(c.ci_high),
        "p_value": None if c.p_value is None else float(f"{c.p_value:.6g}"),
        "diff": _r(c.diff),
    }
    return block
