"""Proof that the sequential read-out holds under peeking: A/A and planted-effect simulations.

Many simulated experiments are looked at after every day (the ``ab_test`` stage's
looks) and after every batch of events (the live read-out's; ``looks_per_day`` looks
a day), each stopped at its first significant look. Reported per read-out:

- the **false-positive rate** on A/A experiments (both arms served the same
  playlists): the share stopped with a significant difference in either direction,
  with its Wilson interval (Wilson, JASA 1927; ``scipy.stats.binomtest``);
- with a planted effect, the **power** (the share that end with "ship B") and the
  **mean days to that decision**.

The read-outs: the fixed-horizon log-ratio z-test of :func:`.stats.log_ratio_lift`
(looked at once on the planned day, or at every look) and the asymptotic confidence
sequence of :mod:`.sequential` at every look.

**Design.** Each *run* simulates the behaviour model's weeks twice with one seed:
every listener served arm A's playlists, and every listener served B's (the two
potential outcomes of each listener). An experiment splits the run's listeners at
random into A and B (the ``split``) and reads each listener's outcome from the
simulation of their arm: for an A/A test both arms read the A simulation; for the
planted effect B's listeners read the B simulation (B's real effect in the behaviour
model) or, ``dilution`` of them at random, a diluted effect (B served to that share
of arm B only). Several splits share a run's simulation: their decisions are nearly
uncorrelated (two independent random splits' contrasts are uncorrelated given the
data), and the runs' seeds are independent.

Per-user counts at each look are cumulative sums of the counted (playlist) plays and
full plays before the look's time; a play's "full" is judged once on its whole
simulated week (DESIGN §4; sessions last minutes, so a look inside one changes
almost nothing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .sequential import cs_halfwidth, cs_rho


def look_counts(
    user_codes: np.ndarray,
    seconds: np.ndarray,
    is_play: np.ndarray,
    is_full: np.ndarray,
    n_users: int,
    look_seconds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``(plays, full_plays)``: users x looks cumulative counts of counted plays.

    ``user_codes``: each event's user index (0..n_users-1); ``seconds``: its time
    since the experiment's start; ``is_play``/``is_full``: booleans. Look ``j`` counts
    the events with ``seconds < look_seconds[j]`` (sorted ascending).
    """
    n_looks = len(look_seconds)
    bins = np.searchsorted(look_seconds, seconds, side="right")  # first look counting it
    keep = is_play & (bins < n_looks)
    plays = np.zeros((n_users, n_looks), dtype="int64")
    full = np.zeros((n_users, n_looks), dtype="int64")
    np.add.at(plays, (user_codes[keep], bins[keep]), 1)
    np.add.at(full, (user_codes[keep & is_full], bins[keep & is_full]), 1)
    return np.cumsum(plays, axis=1), np.cumsum(full, axis=1)


def _arm_moments(plays: np.ndarray, full: np.ndarray, members: np.ndarray):
    """Per look: users with plays, mean and variance (ddof 1) of their play-through rate."""
    p = plays[members]
    f = full[members]
    has = p > 0
    rate = np.divide(f, p, out=np.zeros(p.shape, dtype="float64"), where=has)
    n = has.sum(axis=0).astype("float64")
    s1 = rate.sum(axis=0)
    s2 = (rate**2).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = s1 / n
        var = (s2 - n * mean**2) / (n - 1)
    return n, mean, var


def read_looks(
    a: tuple[np.ndarray, np.ndarray, np.ndarray],
    b: tuple[np.ndarray, np.ndarray, np.ndarray],
    alpha: float,
    tuning_n: float,
) -> tuple[np.ndarray, np.ndarray]:
    """``(fixed, sequential)``: per look, +1 / -1 / 0 for B significantly above / below A / not.

    ``a``, ``b``: :func:`_arm_moments` of each arm. Fixed: the log-ratio z-test at
    ``alpha``; sequential: the asymptotic CS on the same log ratio. Looks where the
    log ratio is undefined are 0.
    """
    (na, ma, va), (nb, mb, vb) = a, b
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = (na >= 2) & (nb >= 2) & (ma > 0) & (mb > 0) & (va > 0) & (vb > 0)
        est = np.log(mb / ma)
        se = np.sqrt(vb / (nb * mb**2) + va / (na * ma**2))
        z = stats.norm.ppf(1 - alpha / 2)
        fixed = np.where(ok & (np.abs(est) > z * se), np.sign(est), 0)
        h = cs_halfwidth(se, na + nb, alpha, cs_rho(alpha, tuning_n))
        seq = np.where(ok & (np.abs(est) > h), np.sign(est), 0)
    return fixed.astype(int), seq.astype(int)


def first_stop(signals: np.ndarray) -> tuple[int, int]:
    """``(look index, sign)`` of the first nonzero signal; ``(-1, 0)`` when none."""
    hits = np.flatnonzero(signals)
    return (int(hits[0]), int(signals[hits[0]])) if len(hits) else (-1, 0)


@dataclass(frozen=True)
class Experiment:
    """One simulated experiment's outcome per read-out: the look it stopped at and
    the direction (+1 ship B, -1 keep A, 0 never stopped)."""

    kind: str
    run: int
    split: int
    stops: dict


def run_experiments(
    outcomes_a: tuple[np.ndarray, np.ndarray],
    outcomes_b: tuple[np.ndarray, np.ndarray],
    rng: np.random.Generator,
    splits: int,
    split: float,
    dilution: float,
    alpha: float,
    tuning_n: float,
    looks_per_day: int,
    planned_days: int,
    run: int = 0,
) -> list[Experiment]:
    """A/A, full-effect and diluted-effect experiments on one run's potential outcomes.

    ``outcomes_a``/``outcomes_b``: ``(plays, full_plays)`` users x looks matrices
    (:func:`look_counts`) of the run served A and served B, looks every
    ``1 / looks_per_day`` day. Each split draws the arms with ``rng``. Read-outs:
    ``fixed_once`` (the planned day only), ``fixed_daily``, ``sequential_daily``,
    ``fixed_batch``, ``sequential_batch`` (every look); stop looks are in days.
    """
    plays_a, full_a = outcomes_a
    plays_b, full_b = outcomes_b
    n_users, n_looks = plays_a.shape
    daily = np.arange(looks_per_day - 1, n_looks, looks_per_day)
    planned = planned_days * looks_per_day - 1
    out = []
    for s in range(splits):
        in_b = rng.random(n_users) < split
        treated = in_b & (rng.random(n_users) < dilution)
        arms_a = _arm_moments(plays_a, full_a, ~in_b)
        kinds = {
            "A/A": _arm_moments(plays_a, full_a, in_b),
            "effect": _arm_moments(plays_b, full_b, in_b),
        }
        if dilution > 0:
            pb = np.where(treated[:, None], plays_b, plays_a)
            fb = np.where(treated[:, None], full_b, full_a)
            kinds["diluted effect"] = _arm_moments(pb, fb, in_b)
        for kind, arms_b in kinds.items():
            fixed, seq = read_looks(arms_a, arms_b, alpha, tuning_n)
            stops = {}
            once = int(fixed[planned]) if planned < n_looks else 0
            stops["fixed_once"] = (planned_days if once else -1, once)
            for name, signal, looks in (
                ("fixed_daily", fixed[daily], daily),
                ("sequential_daily", seq[daily], daily),
                ("fixed_batch", fixed, np.arange(n_looks)),
                ("sequential_batch", seq, np.arange(n_looks)),
            ):
                j, sign = first_stop(signal)
                stops[name] = ((looks[j] + 1) / looks_per_day if j >= 0 else -1, sign)
            out.append(Experiment(kind, run, s, stops))
    return out


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float | None, float | None]:
    """Wilson score interval of a proportion ``k / n`` (scipy's ``binomtest``)."""
    if n == 0:
        return None, None
    ci = stats.binomtest(k, n).proportion_ci(confidence, method="wilson")
    return float(ci.low), float(ci.high)


def summarise(experiments: list[Experiment]) -> pd.DataFrame:
    """One row per (kind, read-out): experiments, rate of stops (any direction for
    A/A: the false-positive rate; "ship B" for an effect: the power) with its Wilson
    interval, and the mean days to that decision."""
    rows = []
    kinds = sorted({e.kind for e in experiments})
    readouts = list(experiments[0].stops) if experiments else []
    for kind in kinds:
        group = [e for e in experiments if e.kind == kind]
        for readout in readouts:
            stops = [e.stops[readout] for e in group]
            hit = [(d, s) for d, s in stops if (s != 0 if kind == "A/A" else s > 0)]
            lo, hi = wilson(len(hit), len(group))
            rows.append(
                {
                    "kind": kind,
                    "readout": readout,
                    "experiments": len(group),
                    "stopped": len(hit),
                    "rate": round(len(hit) / len(group), 6),
                    "rate_ci_low": None if lo is None else round(lo, 6),
                    "rate_ci_high": None if hi is None else round(hi, 6),
                    "mean_days": round(float(np.mean([d for d, _ in hit])), 4) if hit else None,
                }
            )
    return pd.DataFrame(rows)


def simulation_error(alpha: float, n: int, z: float = 2.0) -> float:
    """``z`` binomial standard errors of a rate ``alpha`` over ``n`` experiments."""
    return z * math.sqrt(alpha * (1 - alpha) / n)
