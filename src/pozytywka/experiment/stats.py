"""The A/B statistics: per-arm metrics, lift with a delta-method interval, Welch's
t-test, the sample-ratio-mismatch check and the minimum detectable effect.

All distributions come from scipy. The unit of analysis is the user (users
are what was randomised), so every metric is a mean over users of a per-user
value:

- ``play_through_rate``: full plays / plays, over users with at least one
  (counted) play — a user with no plays has no rate, not a rate of zero;
- ``likes_per_user``, ``skips_per_user``: over all users of the arm;
- ``full_plays_per_user`` (extra, not in DESIGN §6's arms): over all users.
  The primary metric conditions on having played something, and which users
  play depends on the arm (a playlist of another genre reaches other users);
  this one counts every randomised user, so it is the guardrail against a
  rate that rises only because fewer, keener users are left in it.

The relative lift is ``mean_B / mean_A - 1``; its interval is the delta
method for a ratio of two independent means,
``Var(mB/mA) ~ varB/(nB mA^2) + mB^2 varA/(nA mA^4)``, with the normal
quantile for ``1 - alpha`` (95% at the default alpha). The MDE is the
relative effect a two-sided Welch test at ``alpha`` detects with probability
``power`` for the users available, by the normal approximation:
``(z_{1-alpha/2} + z_power) * sqrt(sA^2/nA + sB^2/nB) / mean_A``.

When the outcomes carry pre-experiment covariates (``pre_plays``,
``pre_full_plays``, ``fav_on_shelf``: see :mod:`pozytywka.experiment.cuped`), the
primary metric is also compared after CUPED (``cuped`` in the output). The
plain Welch comparison stays the primary, decision-making one (the DESIGN §6
keys): it assumes nothing about the covariates, and the CUPED one is reported
beside it as a more precise read of the same effect.
A quantity that cannot be computed (an empty arm, a zero base) is ``None``,
which the JSON writes as ``null``: never NaN.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..config import ABParams
from .cuped import PRE_COLUMNS, covariate_matrix, cuped_adjust

PRIMARY = "play_through_rate"
SECONDARY = ("likes_per_user", "skips_per_user", "full_plays_per_user")
METRICS = (PRIMARY, *SECONDARY)
#: The per-arm keys of ``metrics/ab.json`` (DESIGN §6), besides ``users``.
ARM_METRICS = (PRIMARY, "likes_per_user", "skips_per_user")
#: SRM is flagged at this p-value: the usual conservative threshold, because a
#: mismatch invalidates the whole experiment and the check runs on every test.
SRM_ALPHA = 0.001
DIGITS = 6


def _r(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, DIGITS) if math.isfinite(value) else None


def _r_sig(value: float | None) -> float | None:
    """p-values keep 6 significant digits: 4e-26 must not print as 0."""
    if value is None or not math.isfinite(float(value)):
        return None
    return float(f"{float(value):.6g}")


def per_user_values(outcomes: pd.DataFrame, metric: str) -> dict[str, np.ndarray]:
    """For each arm, the per-user values whose mean is ``metric``."""
    out = {}
    for arm in ("A", "B"):
        rows = outcomes[outcomes["arm"] == arm]
        if metric == PRIMARY:
            rows = rows[rows["plays"] > 0]
            out[arm] = (rows["full_plays"] / rows["plays"]).to_numpy(dtype="float64")
        elif metric == "likes_per_user":
            out[arm] = rows["likes"].to_numpy(dtype="float64")
        elif metric == "skips_per_user":
            out[arm] = rows["skips"].to_numpy(dtype="float64")
        elif metric == "full_plays_per_user":
            out[arm] = rows["full_plays"].to_numpy(dtype="float64")
        else:
            raise ValueError(f"unknown metric {metric!r}")
    return out


@dataclass(frozen=True)
class Comparison:
    """B against A on one metric (lift and interval relative to A)."""

    metric: str
    n_a: int
    n_b: int
    mean_a: float | None
    mean_b: float | None
    diff: float | None
    lift: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    mde: float | None

    def as_dict(self) -> dict:
        """Rounded for output (p-value to significant digits)."""
        out = {k: (_r(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        out["p_value"] = _r_sig(self.p_value)
        return out


def _mean(x: np.ndarray) -> float | None:
    return float(x.mean()) if len(x) else None


def _var(x: np.ndarray) -> float | None:
    return float(x.var(ddof=1)) if len(x) >= 2 else None


def mde_relative(
    var_a: float | None,
    var_b: float | None,
    n_a: int,
    n_b: int,
    mean_a: float | None,
    alpha: float,
    power: float,
) -> float | None:
    """Smallest relative lift detected with probability ``power`` (normal approximation)."""
    if var_a is None or var_b is None or not mean_a or n_a < 2 or n_b < 2:
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return float(z * math.sqrt(var_a / n_a + var_b / n_b) / abs(mean_a))


def compare(a: np.ndarray, b: np.ndarray, metric: str, alpha: float, power: float) -> Comparison:
    """Difference, relative lift with its delta-method interval, Welch p-value, MDE."""
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    ma, mb, va, vb = _mean(a), _mean(b), _var(a), _var(b)
    diff = lift = lo = hi = p = None
    if ma is not None and mb is not None:
        diff = mb - ma
    if len(a) >= 2 and len(b) >= 2:
        res = stats.ttest_ind(b, a, equal_var=False)
        p = float(res.pvalue) if np.isfinite(res.pvalue) else (1.0 if diff == 0 else None)
        if ma:
            lift = mb / ma - 1
            se = math.sqrt(vb / (len(b) * ma**2) + mb**2 * va / (len(a) * ma**4))
            z = stats.norm.ppf(1 - alpha / 2)
            lo, hi = lift - z * se, lift + z * se
    return Comparison(
        metric=metric,
        n_a=int(len(a)),
        n_b=int(len(b)),
        mean_a=ma,
        mean_b=mb,
        diff=diff,
        lift=lift,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        mde=mde_relative(va, vb, len(a), len(b), ma, alpha, power),
    )


def srm_p_value(n_a: int, n_b: int, split: float) -> float | None:
    """Chi-square p-value of the arm sizes against the planned split (share in B)."""
    n = n_a + n_b
    if n == 0:
        return None
    res = stats.chisquare([n_a, n_b], f_exp=[n * (1 - split), n * split])
    return float(res.pvalue)


def decide(
    primary: Comparison,
    srm_p: float | None,
    alpha: float,
    guardrail: Comparison | None = None,
) -> tuple[str, str]:
    """``(decision, why)``: ship B / keep A / inconclusive, from the primary metric.

    An SRM voids the result (the arms are not the random halves they should be,
    so any difference may come from who is in them). Otherwise a significant
    lift decides; a non-significant one is inconclusive, and the MDE says how
    large an effect the test could have seen. A significant rise is not shipped
    when the guardrail (full plays per randomised user) fell significantly:
    then the rate rose because fewer users played, not because they liked more.
    """
    if srm_p is not None and srm_p < SRM_ALPHA:
        return "inconclusive", (
            f"sample ratio mismatch (SRM p = {srm_p:.2g} < {SRM_ALPHA}): the arms are not "
            "the planned random split, so the comparison is not trustworthy"
        )
    if primary.p_value is None or primary.lift is None:
        return "inconclusive", "not enough users with plays in both arms to compare"
    ci = f"{primary.lift:+.2%} (95% CI {primary.ci_low:+.2%} to {primary.ci_high:+.2%})"
    if primary.p_value < alpha and primary.lift > 0:
        g = guardrail
        if g is not None and g.p_value is not None and g.p_value < alpha and (g.diff or 0) < 0:
            return "inconclusive", (
                f"play-through rate lift {ci}, p = {primary.p_value:.2g}, but full plays per "
                f"user fell ({g.lift:+.2%}, p = {g.p_value:.2g}): B reaches fewer listeners"
            )
        return "ship B", f"play-through rate lift {ci}, p = {primary.p_value:.2g} < {alpha}"
    if primary.p_value < alpha and primary.lift < 0:
        return (
            "keep A",
            f"play-through rate lift {ci}, p = {primary.p_value:.2g} < {alpha}: B is worse",
        )
    mde = f"{primary.mde:.2%}" if primary.mde is not None else "unknown"
    return "inconclusive", (
        f"play-through rate lift {ci}, p = {primary.p_value:.2g} >= {alpha}; "
        f"the test could detect a lift of {mde} or more (MDE at the configured power); keep A "
        "until a longer or larger test shows a difference"
    )


def cuped_comparison(outcomes: pd.DataFrame, ab: ABParams) -> dict | None:
    """The primary metric after CUPED (:mod:`pozytywka.experiment.cuped`); None without covariates.

    Same users as the plain comparison (those with plays); ``theta`` is fitted on
    both arms pooled; then the same Welch test, delta-method interval and MDE run
    on the adjusted per-user rates. ``variance_reduction`` is
    ``1 - var(adjusted) / var(plain)`` over those users.
    """
    if not set(PRE_COLUMNS) & set(outcomes.columns):
        return None
    rows = outcomes[outcomes["plays"] > 0]
    x, names = covariate_matrix(rows)
    if not names:
        return None
    y = (rows["full_plays"] / rows["plays"]).to_numpy(dtype="float64")
    adjusted, theta = cuped_adjust(y, x)
    arm = rows["arm"].to_numpy()
    c = compare(adjusted[arm == "A"], adjusted[arm == "B"], PRIMARY, ab.alpha, ab.power)
    reduction = 1 - adjusted.var(ddof=1) / y.var(ddof=1) if len(y) >= 2 and y.var() > 0 else None
    return {
        "covariates": names,
        "theta": [_r(t) for t in theta],
        "variance_reduction": _r(reduction),
        "users_with_pre_period": int((rows.get("pre_plays", pd.Series(dtype=int)) > 0).sum()),
        **{
            k: v
            for k, v in c.as_dict().items()
            if k in ("mean_a", "mean_b", "diff", "lift", "ci_low", "ci_high", "p_value", "mde")
        },
    }


def analyse(outcomes: pd.DataFrame, ab: ABParams, mode: str) -> dict:
    """Everything ``metrics/ab.json`` holds, from the per-user outcomes."""
    sizes = outcomes["arm"].value_counts()
    n_a, n_b = int(sizes.get("A", 0)), int(sizes.get("B", 0))
    comparisons = {
        m: compare(*per_user_values(outcomes, m).values(), m, ab.alpha, ab.power) for m in METRICS
    }
    primary = comparisons[PRIMARY]
    srm = srm_p_value(n_a, n_b, ab.split)
    decision, why = decide(primary, srm, ab.alpha, comparisons["full_plays_per_user"])
    cuped = cuped_comparison(outcomes, ab)

    def arm(which: str, n: int) -> dict:
        key = "mean_a" if which == "A" else "mean_b"
        return {
            "users": n,
            **{m: _r(getattr(comparisons[m], key)) for m in ARM_METRICS},
        }

    return {
        "arms": {"A": arm("A", n_a), "B": arm("B", n_b)},
        "metric": PRIMARY,
        "lift": _r(primary.lift),
        "ci_low": _r(primary.ci_low),
        "ci_high": _r(primary.ci_high),
        "p_value": _r_sig(primary.p_value),
        "srm_p_value": _r_sig(srm),
        "mde": _r(primary.mde),
        # Extras (DESIGN §6 allows more keys; the ones above are the contract).
        "mode": mode,
        "decision": decision,
        "reason": why,
        "alpha": ab.alpha,
        "power": ab.power,
        "split": ab.split,
        "diff": _r(primary.diff),
        "users_with_plays": {"A": primary.n_a, "B": primary.n_b},
        "secondary": {
            m: {
                k: v
                for k, v in comparisons[m].as_dict().items()
                if k in ("mean_a", "mean_b", "diff", "lift", "ci_low", "ci_high", "p_value")
            }
            for m in SECONDARY
        },
        **({"cuped": cuped} if cuped is not None else {}),
    }


def sequential_view(daily: dict[int, pd.DataFrame], ab: ABParams) -> pd.DataFrame:
    """Lift and interval of the primary metric after each day of the week.

    A look at the experiment before its planned end: the interval is the
    fixed-horizon one and is only valid on the last day (peeking inflates
    false positives), which the plot says.
    """
    rows = []
    for day, outcomes in sorted(daily.items()):
        c = compare(*per_user_values(outcomes, PRIMARY).values(), PRIMARY, ab.alpha, ab.power)
        rows.append(
            {
                "day": int(day),
                "users_a": c.n_a,
                "users_b": c.n_b,
                "ptr_a": _r(c.mean_a),
                "ptr_b": _r(c.mean_b),
                "lift": _r(c.lift),
                "ci_low": _r(c.ci_low),
                "ci_high": _r(c.ci_high),
                "p_value": _r_sig(c.p_value),
            }
        )
    return pd.DataFrame(rows)


def arm_intervals(outcomes: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per arm and metric: the mean and its normal interval (for the arms plot)."""
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for m in METRICS:
        for arm, x in per_user_values(outcomes, m).items():
            mean = _mean(x)
            se = math.sqrt(_var(x) / len(x)) if len(x) >= 2 else None
            rows.append(
                {
                    "metric": m,
                    "arm": arm,
                    "users": int(len(x)),
                    "mean": _r(mean),
                    "ci_low": _r(mean - z * se) if se is not None else None,
                    "ci_high": _r(mean + z * se) if se is not None else None,
                }
            )
    return pd.DataFrame(rows)
