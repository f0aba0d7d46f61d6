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

The relative lift is ``mean_B / mean_A - 1``. Its interval and its test come
from one method, so they always agree (p < alpha exactly when the interval
excludes 0): the **delta method on the log ratio**,
``log(mB/mA) +- z_{1-alpha/2} * se`` with
``se^2 = varB/(nB mB^2) + varA/(nA mA^2)``, back-transformed with ``exp`` and
tested with ``z = log(mB/mA) / se`` (two-sided normal p-value). The source is
the delta method for a ratio of independent means (Kohavi, Tang & Xu,
*Trustworthy Online Controlled Experiments*, CUP 2020, ch. 18 "Variance
Estimation and Improved Sensitivity"; Deng, Knoblich & Lu, "Applying the Delta
Method in Metric Analytics", KDD 2018) applied on the log scale, where the
ratio's sampling distribution is closer to normal. On that scale the interval
cannot reach a lift of -100% or below, which a ratio of non-negative means never
is (the linear delta-method interval did: issue 9, item 8).

The log ratio needs both means > 0 and a variance in each arm. When the
control mean is 0 (``mB/mA`` undefined), the treatment mean is 0 (log of 0),
or either arm shows no variance (one value repeated: the spread is not
estimable, and the delta method would claim a certainty it does not have),
the relative lift is **undefined** (``lift_defined: false``, ``lift`` and its
interval ``None``) and the comparison falls back to the absolute difference
``mB - mA`` with Welch's t interval and Welch's t-test (Welch 1947, the
Welch-Satterthwaite degrees of freedom; scipy's ``ttest_ind(equal_var=False)``),
again one method for both. The absolute difference, its Welch interval and
Welch p-value are always reported too (``diff``, ``abs_ci_low``,
``abs_ci_high``, ``abs_p_value``). For a metric bounded in ``[lo, hi]`` (the
play-through rate is in [0, 1]) the difference lies in ``[lo - hi, hi - lo]`` and
its interval is cut to that range (cutting never lowers coverage).

The MDE is the relative effect a two-sided test at ``alpha`` detects with
probability ``power`` for the users available, by the normal approximation:
``(z_{1-alpha/2} + z_power) * sqrt(sA^2/nA + sB^2/nB) / mean_A`` (the usual
two-sample size formula solved for the effect, e.g. van Belle, *Statistical
Rules of Thumb*, 2nd ed. 2008, §2.3: ``n = 16 s^2 / d^2`` per arm at alpha 0.05
and power 0.8; ``tests/test_ab_stats.py`` checks the MDE against it).

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
from .guardrails import ratio_guardrail
from .multitest import adjust, ratio_compare
from .sequential import METHOD, cs_rho, sequential_compare

PRIMARY = "play_through_rate"
SECONDARY = ("likes_per_user", "skips_per_user", "full_plays_per_user")
METRICS = (PRIMARY, *SECONDARY)
#: The ratio metric reported beside the per-user ones (delta method: :mod:`.multitest`).
RATIO_METRIC = "plays_per_session"
#: The secondary metrics corrected together for multiplicity (``ab.correction``); the
#: primary keeps its full alpha and ``full_plays_per_user`` is the reach guardrail.
FAMILY = ("likes_per_user", "skips_per_user", RATIO_METRIC)
#: Decisions of the sequential read-out; "inconclusive" ends a run at its maximum horizon.
KEEP_RUNNING = "keep running"
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


#: The range of each metric's per-user values: (low, high), None = unbounded.
METRIC_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    PRIMARY: (0.0, 1.0),
    "likes_per_user": (0.0, None),
    "skips_per_user": (0.0, None),
    "full_plays_per_user": (0.0, None),
}
UNBOUNDED: tuple[float | None, float | None] = (None, None)
#: The keys of a comparison that ``ab.json`` carries for secondary metrics and CUPED.
COMPARISON_KEYS = (
    "mean_a",
    "mean_b",
    "diff",
    "lift",
    "ci_low",
    "ci_high",
    "p_value",
    "lift_defined",
    "lift_note",
    "test",
    "abs_ci_low",
    "abs_ci_high",
    "abs_p_value",
)


@dataclass(frozen=True)
class Comparison:
    """B against A on one metric.

    ``lift``/``ci_low``/``ci_high`` are relative to A (``mB/mA - 1``) and
    ``None`` when ``lift_defined`` is false (see the module docstring for
    when); ``p_value`` is the test of the method used (``test``:
    ``"log_ratio_z"`` or ``"welch_t"``); ``diff``/``abs_ci_low``/``abs_ci_high``/
    ``abs_p_value`` are the absolute difference ``mB - mA`` with Welch's interval
    and test, always reported. ``lift_note`` says why the lift is undefined.
    """

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
    lift_defined: bool = False
    abs_ci_low: float | None = None
    abs_ci_high: float | None = None
    abs_p_value: float | None = None
    test: str | None = None
    lift_note: str | None = None

    def as_dict(self) -> dict:
        """Rounded for output (p-values to significant digits)."""
        out = {k: (_r(v) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        out["p_value"] = _r_sig(self.p_value)
        out["abs_p_value"] = _r_sig(self.abs_p_value)
        return out


def _clip(value: float, lo: float | None, hi: float | None) -> float:
    return min(max(value, -math.inf if lo is None else lo), math.inf if hi is None else hi)


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


def welch_difference(
    a: np.ndarray,
    b: np.ndarray,
    alpha: float,
    bounds: tuple[float | None, float | None] = UNBOUNDED,
) -> tuple[float | None, float | None, float | None]:
    """``(ci_low, ci_high, p_value)`` of ``mean(b) - mean(a)`` by Welch's t (scipy).

    ``None`` where undefined: fewer than 2 values in an arm; no variance in
    either arm (then p is 1 for equal means, else None). With metric
    ``bounds`` ``(lo, hi)`` the interval is cut to ``[lo - hi, hi - lo]``.
    """
    if len(a) < 2 or len(b) < 2:
        return None, None, None
    if float(np.ptp(a)) == 0 and float(np.ptp(b)) == 0:
        return None, None, (1.0 if float(b.mean()) == float(a.mean()) else None)
    res = stats.ttest_ind(b, a, equal_var=False)
    ci = res.confidence_interval(1 - alpha)
    low, high = float(ci.low), float(ci.high)
    lo, hi = bounds
    if lo is not None and hi is not None:
        low, high = max(low, lo - hi), min(high, hi - lo)
    return low, high, float(res.pvalue)


def log_ratio_lift(
    mean_a: float, mean_b: float, var_a: float, var_b: float, n_a: int, n_b: int, alpha: float
) -> tuple[float, float, float, float]:
    """``(lift, ci_low, ci_high, p_value)`` of ``mB/mA - 1``: delta method on ``log(mB/mA)``.

    Needs both means > 0 and n >= 2 per arm (the caller checks). See the
    module docstring for the formula and its sources.
    """
    log_ratio = math.log(mean_b / mean_a)
    se = math.sqrt(var_b / (n_b * mean_b**2) + var_a / (n_a * mean_a**2))
    z = stats.norm.ppf(1 - alpha / 2)
    p = float(2 * stats.norm.sf(abs(log_ratio) / se))
    return (
        mean_b / mean_a - 1,
        math.exp(log_ratio - z * se) - 1,
        math.exp(log_ratio + z * se) - 1,
        p,
    )


def _lift_problem(ma: float | None, mb: float | None, va: float | None, vb: float | None) -> str:
    """Why the relative lift is undefined ("" when it is defined)."""
    if ma is None or mb is None or va is None or vb is None:
        return "fewer than 2 users in an arm"
    problems = []
    if ma <= 0:
        problems.append("the control (A) mean is 0")
    if mb <= 0:
        problems.append("the treatment (B) mean is 0")
    still = [arm for arm, v in (("A", va), ("B", vb)) if v == 0]
    if still:
        problems.append(f"no variance in arm {' and '.join(still)}")
    return "; ".join(problems)


def compare(
    a: np.ndarray,
    b: np.ndarray,
    metric: str,
    alpha: float,
    power: float,
    bounds: tuple[float | None, float | None] | None = None,
) -> Comparison:
    """B against A on per-user values ``a``, ``b`` (1-D arrays, one value per user).

    The relative lift with the log-ratio interval and test when it is defined,
    else the absolute difference with Welch's (module docstring). ``bounds``:
    the range of a per-user value, default :data:`METRIC_BOUNDS` of ``metric``.
    A pure function: the ``ab_test`` stage and the service's live read-out call it.
    """
    a = np.asarray(a, dtype="float64")
    b = np.asarray(b, dtype="float64")
    if bounds is None:
        bounds = METRIC_BOUNDS.get(metric, UNBOUNDED)
    ma, mb, va, vb = _mean(a), _mean(b), _var(a), _var(b)
    diff = None if ma is None or mb is None else mb - ma
    abs_lo, abs_hi, abs_p = welch_difference(a, b, alpha, bounds)
    problem = _lift_problem(ma, mb, va, vb)
    lift = lo = hi = None
    if problem:
        p, test = abs_p, ("welch_t" if abs_p is not None else None)
    else:
        lift, lo, hi, p = log_ratio_lift(ma, mb, va, vb, len(a), len(b), alpha)
        test = "log_ratio_z"
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
        lift_defined=not problem,
        abs_ci_low=abs_lo,
        abs_ci_high=abs_hi,
        abs_p_value=abs_p,
        test=test,
        lift_note=problem or None,
    )


def srm_p_value(n_a: int, n_b: int, split: float) -> float | None:
    """Chi-square p-value of the arm sizes against the planned split (share in B)."""
    n = n_a + n_b
    if n == 0:
        return None
    res = stats.chisquare([n_a, n_b], f_exp=[n * (1 - split), n * split])
    return float(res.pvalue)


#: What a user with a counted play did, per mode (for the reasons in words).
PLAYED = {"simulation": "had plays", "replay": "played a served track"}
#: ``mode_note`` of ``ab.json``: what kind of estimate each mode is.
MODE_NOTES = {
    "simulation": "simulation: the synthetic service's behaviour model played the week "
    "with each user offered their arm's playlists (a causal estimate on synthetic users)",
    "replay": "replay estimate, not an experiment: users never saw these playlists; each arm "
    "is scored by what its users actually played in the held-out week",
}


def _users(n: int) -> str:
    return f"{n} user" + ("" if n == 1 else "s")


def _effect_text(c: Comparison) -> str:
    """The primary effect in words: the lift when defined, else the absolute difference."""
    if c.lift_defined:
        return f"play-through rate lift {c.lift:+.2%} (95% CI {c.ci_low:+.2%} to {c.ci_high:+.2%})"
    ci = (
        f" (95% CI {c.abs_ci_low:+.4f} to {c.abs_ci_high:+.4f})"
        if c.abs_ci_low is not None and c.abs_ci_high is not None
        else ""
    )
    return (
        f"play-through rate difference {c.diff:+.4f}{ci}; relative lift undefined ({c.lift_note})"
    )


def decide(
    primary: Comparison,
    srm_p: float | None,
    alpha: float,
    guardrail: Comparison | None = None,
    mode: str = "simulation",
) -> tuple[str, str]:
    """``(decision, why)``: ship B / keep A / inconclusive, from the primary metric.

    An SRM voids the result (the arms are not the random halves they should be,
    so any difference may come from who is in them). Otherwise a significant
    effect decides (the relative lift's test, or Welch's on the difference when
    the lift is undefined: :func:`compare`); a non-significant one is
    inconclusive, and the MDE says how large an effect the test could have seen.
    Too few users to compare is inconclusive with the counts in words (e.g.
    "1 user in arm A and 1 user in arm B played a served track"). A significant
    rise is not shipped when the guardrail (full plays per randomised user) fell
    significantly: then the rate rose because fewer users played.
    """
    if srm_p is not None and srm_p < SRM_ALPHA:
        return "inconclusive", (
            f"sample ratio mismatch (SRM p = {srm_p:.2g} < {SRM_ALPHA}): the arms are not "
            "the planned random split, so the comparison is not trustworthy"
        )
    if primary.p_value is None or primary.diff is None:
        return "inconclusive", (
            f"only {_users(primary.n_a)} in arm A and {_users(primary.n_b)} in arm B "
            f"{PLAYED.get(mode, 'had plays')}: at least 2 per arm, with some spread, are needed "
            "to compare"
        )
    effect = _effect_text(primary)
    direction = primary.lift if primary.lift_defined else primary.diff
    if primary.p_value < alpha and direction > 0:
        g = guardrail
        if g is not None and g.p_value is not None and g.p_value < alpha and (g.diff or 0) < 0:
            fell = f"{g.lift:+.2%}" if g.lift_defined else f"{g.diff:+.4f}"
            return "inconclusive", (
                f"{effect}, p = {primary.p_value:.2g}, but full plays per "
                f"user fell ({fell}, p = {g.p_value:.2g}): B reaches fewer listeners"
            )
        return "ship B", f"{effect}, p = {primary.p_value:.2g} < {alpha}"
    if primary.p_value < alpha and direction < 0:
        return "keep A", f"{effect}, p = {primary.p_value:.2g} < {alpha}: B is worse"
    mde = f"{primary.mde:.2%}" if primary.mde is not None else "unknown"
    return "inconclusive", (
        f"{effect}, p = {primary.p_value:.2g} >= {alpha}; "
        f"the test could detect a lift of {mde} or more (MDE at the configured power); keep A "
        "until a longer or larger test shows a difference"
    )


def cuped_comparison(outcomes: pd.DataFrame, ab: ABParams) -> dict | None:
    """The primary metric after CUPED (:mod:`pozytywka.experiment.cuped`); None without covariates.

    Same users as the plain comparison (those with plays); ``theta`` is fitted on
    both arms pooled; then the same :func:`compare` runs on the adjusted
    per-user rates (unbounded: an adjusted rate may leave [0, 1]). ``variance_reduction`` is
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
    c = compare(adjusted[arm == "A"], adjusted[arm == "B"], PRIMARY, ab.alpha, ab.power, UNBOUNDED)
    reduction = 1 - adjusted.var(ddof=1) / y.var(ddof=1) if len(y) >= 2 and y.var() > 0 else None
    return {
        "covariates": names,
        "theta": [_r(t) for t in theta],
        "variance_reduction": _r(reduction),
        "users_with_pre_period": int((rows.get("pre_plays", pd.Series(dtype=int)) > 0).sum()),
        **{k: v for k, v in c.as_dict().items() if k in (*COMPARISON_KEYS, "mde")},
    }


def _ratio_values(outcomes: pd.DataFrame, num: str, den: str) -> dict[str, tuple]:
    """Per arm, the per-user numerator and denominator arrays of a ratio metric."""
    out = {}
    for arm in ("A", "B"):
        rows = outcomes[outcomes["arm"] == arm]
        out[arm] = (rows[num].to_numpy("float64"), rows[den].to_numpy("float64"))
    return out


def secondary_metrics(
    outcomes: pd.DataFrame, comparisons: dict[str, Comparison], ab: ABParams
) -> tuple[dict, dict]:
    """``(secondary, multiplicity)`` of ``ab.json``.

    ``secondary``: each secondary per-user metric's comparison (:data:`COMPARISON_KEYS`)
    and plays per session (a ratio metric, delta method: :func:`.multitest.ratio_compare`);
    the metrics of :data:`FAMILY` gain ``p_adjusted`` (``ab.correction``: Holm or
    Benjamini-Hochberg over the family) and ``moved`` (``p_adjusted < alpha``).
    ``multiplicity``: the method, the family and the metrics that moved after correction.
    """
    secondary = {
        m: {k: v for k, v in comparisons[m].as_dict().items() if k in COMPARISON_KEYS}
        for m in SECONDARY
    }
    ratio = _ratio_values(outcomes, "plays", "sessions") if "sessions" in outcomes else None
    if ratio is not None:
        r = ratio_compare(*ratio["A"], *ratio["B"], ab.alpha)
        secondary[RATIO_METRIC] = {
            **{k: _r(v) for k, v in r.items() if k not in ("p_value", "se_log")},
            "p_value": _r_sig(r["p_value"]),
            "lift_defined": r["lift"] is not None,
            "test": "delta_method_ratio_z" if r["p_value"] is not None else None,
        }
    family = [m for m in FAMILY if m in secondary]
    raw = {
        m: (
            comparisons[m].p_value
            if m in comparisons
            else ratio_compare(*ratio["A"], *ratio["B"], ab.alpha)["p_value"]
        )
        for m in family
    }
    adjusted = adjust(raw, ab.correction)
    for m in family:
        secondary[m]["p_adjusted"] = _r_sig(adjusted[m])
        secondary[m]["moved"] = adjusted[m] is not None and adjusted[m] < ab.alpha
    multiplicity = {
        "method": ab.correction,
        "family": family,
        "moved": [m for m in family if secondary[m]["moved"]],
        "note": "the primary metric keeps its full alpha; the family's p-values are "
        + (
            "Holm-adjusted (family-wise error)"
            if ab.correction == "holm"
            else "Benjamini-Hochberg-adjusted (false discovery rate)"
        ),
    }
    return secondary, multiplicity


def guardrail_checks(outcomes: pd.DataFrame, ab: ABParams, extra: dict | None = None) -> dict:
    """The declared guardrails' verdicts (:mod:`.guardrails`): the skip rate from the
    outcomes, plus ``extra`` ones computed elsewhere (the keys of
    :func:`.guardrails.non_inferiority`)."""
    ratio = _ratio_values(outcomes, "skips", "plays")
    seq = ab.sequential
    out = {
        "skip_rate": ratio_guardrail(
            "skip rate", *ratio["A"], *ratio["B"], ab.guardrails.skip_rate, ab.alpha, seq.tuning_n
        )
    }
    out.update(extra or {})
    return out


def sequential_decide(
    primary: dict,
    reach: dict,
    guardrails: dict,
    srm_p: float | None,
    alpha: float,
    final: bool,
    too_few: str = "",
) -> tuple[str, str]:
    """``(decision, why)`` from the always-valid read-out at one look.

    ``too_few``: the reason in words when an arm has too few listeners to compare
    (the counts, from :func:`decide`).

    ``primary``/``reach``: :class:`.sequential.SequentialResult` dicts of the primary
    metric and of full plays per user. In order: an SRM voids the experiment
    ("inconclusive"); a CS of the primary metric below 0 is "keep A"; above 0 it is
    "ship B" unless B reaches fewer listeners (the reach CS below 0: "keep A") or a
    guardrail has not passed (failed: "keep A"; not shown yet: "keep running", or
    "keep A" at the maximum horizon), each named with its change; a CS holding 0 is
    "keep running", or "inconclusive" when ``final`` (the maximum horizon).
    """
    if srm_p is not None and srm_p < SRM_ALPHA:
        return "inconclusive", (
            f"sample ratio mismatch (SRM p = {srm_p:.2g} < {SRM_ALPHA}): the arms are not "
            "the planned random split, so the comparison is not trustworthy"
        )
    lift = primary.get("lift")
    if lift is not None:
        effect = (
            f"play-through rate lift {lift:+.2%} (always-valid {1 - alpha:.0%} CS "
            f"{primary['cs_low']:+.2%} to {primary['cs_high']:+.2%}, p = {primary['p_value']:.2g})"
        )
        lo, hi = primary["cs_low"], primary["cs_high"]
    elif primary.get("abs_cs_low") is not None:
        effect = (
            f"play-through rate difference {primary['diff']:+.4f} (always-valid CS "
            f"{primary['abs_cs_low']:+.4f} to {primary['abs_cs_high']:+.4f})"
        )
        lo, hi = primary["abs_cs_low"], primary["abs_cs_high"]
    else:
        why = too_few or (
            "too few listeners with plays in an arm to compare (2+ per arm, with some spread)"
        )
        return ("inconclusive", why) if final else (KEEP_RUNNING, why)
    if hi < 0:
        return "keep A", f"{effect}: B is worse"
    if lo <= 0:
        if final:
            return "inconclusive", f"{effect} still holds 0 at the maximum horizon; keep A"
        return KEEP_RUNNING, f"{effect} holds 0: no decision yet"
    reach_hi = reach.get("cs_high") if reach.get("lift") is not None else reach.get("abs_cs_high")
    if reach_hi is not None and reach_hi < 0:
        fell = reach.get("lift")
        fell = f"{fell:+.2%}" if fell is not None else f"{reach['diff']:+.4f}"
        return (
            "keep A",
            f"{effect}, but full plays per user fell ({fell}): B reaches fewer listeners",
        )
    failed = [g for g in guardrails.values() if g["status"] == "fail"]
    pending = [g for g in guardrails.values() if g["status"] != "pass"]
    if failed:
        return "keep A", f"{effect}, but a guardrail failed: " + "; ".join(
            g["note"] for g in failed
        )
    if pending:
        notes = "; ".join(g["note"] for g in pending)
        if final:
            return (
                "keep A",
                f"{effect}, but a guardrail did not pass by the maximum horizon: {notes}",
            )
        return KEEP_RUNNING, f"{effect}; waiting on a guardrail: {notes}"
    return "ship B", f"{effect}; guardrails within their margins"


def sequential_read(
    outcomes: pd.DataFrame,
    ab: ABParams,
    srm_p: float | None,
    final: bool,
    extra_guardrails: dict | None = None,
    too_few: str = "",
) -> tuple[dict, dict]:
    """``(sequential, guardrails)`` of ``ab.json`` at one look (the CS is valid at any)."""
    seq = ab.sequential
    primary = sequential_compare(
        *per_user_values(outcomes, PRIMARY).values(), ab.alpha, seq.tuning_n
    ).as_dict()
    reach = sequential_compare(
        *per_user_values(outcomes, "full_plays_per_user").values(), ab.alpha, seq.tuning_n
    ).as_dict()
    guardrails = guardrail_checks(outcomes, ab, extra_guardrails)
    decision, why = sequential_decide(primary, reach, guardrails, srm_p, ab.alpha, final, too_few)
    block = {
        "method": METHOD,
        "alpha": ab.alpha,
        "tuning_n": seq.tuning_n,
        "rho": _r(cs_rho(ab.alpha, seq.tuning_n)),
        **primary,
        "decision": decision,
        "reason": why,
    }
    return block, guardrails


def analyse(
    outcomes: pd.DataFrame,
    ab: ABParams,
    mode: str,
    *,
    final: bool = False,
    extra_guardrails: dict | None = None,
) -> dict:
    """Everything ``metrics/ab.json`` holds, from the per-user outcomes of one look.

    The DESIGN §6 keys (``lift``, ``ci_low``, ``p_value``...) are the fixed-horizon
    read-out, valid when this look is the planned one; ``fixed_horizon`` holds its
    decision. ``sequential`` is the always-valid read-out at this look and makes
    ``decision``/``reason`` (:func:`sequential_decide`; ``final``: this is the last
    look, so no "keep running"). ``secondary`` and ``multiplicity``:
    :func:`secondary_metrics`; ``guardrails``: :func:`guardrail_checks`.
    """
    sizes = outcomes["arm"].value_counts()
    n_a, n_b = int(sizes.get("A", 0)), int(sizes.get("B", 0))
    comparisons = {
        m: compare(*per_user_values(outcomes, m).values(), m, ab.alpha, ab.power) for m in METRICS
    }
    primary = comparisons[PRIMARY]
    srm = srm_p_value(n_a, n_b, ab.split)
    fixed, fixed_why = decide(primary, srm, ab.alpha, comparisons["full_plays_per_user"], mode)
    too_few = fixed_why if primary.p_value is None or primary.diff is None else ""
    sequential, guardrails = sequential_read(outcomes, ab, srm, final, extra_guardrails, too_few)
    secondary, multiplicity = secondary_metrics(outcomes, comparisons, ab)
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
        "mode_note": MODE_NOTES.get(mode, mode),
        "decision": sequential["decision"],
        "reason": sequential["reason"],
        "fixed_horizon": {"decision": fixed, "reason": fixed_why},
        "sequential": sequential,
        "guardrails": guardrails,
        "alpha": ab.alpha,
        "power": ab.power,
        "split": ab.split,
        "diff": _r(primary.diff),
        "lift_defined": primary.lift_defined,
        "lift_note": primary.lift_note,
        "test": primary.test,
        "abs_diff": _r(primary.diff),
        "abs_ci_low": _r(primary.abs_ci_low),
        "abs_ci_high": _r(primary.abs_ci_high),
        "abs_p_value": _r_sig(primary.abs_p_value),
        "users_with_plays": {"A": primary.n_a, "B": primary.n_b},
        "secondary": secondary,
        "multiplicity": multiplicity,
        **({"cuped": cuped} if cuped is not None else {}),
    }


def sequential_looks(outcomes: pd.DataFrame, ab: ABParams, day: int, final: bool) -> dict:
    """One row of ``reports/ab/sequential.csv``: the primary metric after ``day`` days.

    ``lift``/``ci_low``/``ci_high``/``p_value``: the fixed-horizon read-out (valid only
    on the planned day: looked at every day it inflates false positives);
    ``cs_low``/``cs_high``/``cs_p_value``: the always-valid confidence sequence
    (:mod:`.sequential`), valid at every look; ``decision``: the sequential decision
    at this look (:func:`sequential_decide`).
    """
    c = compare(*per_user_values(outcomes, PRIMARY).values(), PRIMARY, ab.alpha, ab.power)
    sizes = outcomes["arm"].value_counts()
    srm = srm_p_value(int(sizes.get("A", 0)), int(sizes.get("B", 0)), ab.split)
    block, _ = sequential_read(outcomes, ab, srm, final)
    return {
        "day": int(day),
        "users_a": c.n_a,
        "users_b": c.n_b,
        "ptr_a": _r(c.mean_a),
        "ptr_b": _r(c.mean_b),
        "lift": _r(c.lift),
        "ci_low": _r(c.ci_low),
        "ci_high": _r(c.ci_high),
        "p_value": _r_sig(c.p_value),
        "cs_low": block["cs_low"],
        "cs_high": block["cs_high"],
        "cs_p_value": block["p_value"],
        "decision": block["decision"],
    }


def arm_intervals(outcomes: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per arm and metric: the mean and its normal interval, cut to the metric's range."""
    z = stats.norm.ppf(1 - alpha / 2)
    rows = []
    for m in METRICS:
        lo, hi = METRIC_BOUNDS[m]
        for arm, x in per_user_values(outcomes, m).items():
            mean = _mean(x)
            se = math.sqrt(_var(x) / len(x)) if len(x) >= 2 else None
            rows.append(
                {
                    "metric": m,
                    "arm": arm,
                    "users": int(len(x)),
                    "mean": _r(mean),
                    "ci_low": _r(_clip(mean - z * se, lo, hi)) if se is not None else None,
                    "ci_high": _r(_clip(mean + z * se, lo, hi)) if se is not None else None,
                }
            )
    return pd.DataFrame(rows)
