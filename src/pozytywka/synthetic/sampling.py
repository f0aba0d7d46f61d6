"""Vectorised weighted draws inside groups (a track within its genre, a genre within its family).

``numpy.random.Generator.choice`` draws from one distribution at a time; the
simulator needs hundreds of thousands of draws, each from the distribution of
its own group. The trick: sort the items by group and give each one the key
``group + (cumulative weight inside the group / group total)``. The keys are
increasing across groups, so one ``searchsorted`` of ``group + u`` (u uniform
in [0, 1)) draws an item of that group with probability proportional to its
weight, for every draw at once. Zero-weight items share the key of their
predecessor and are never drawn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GroupedSampler:
    """Draw an item of a given group, with probability proportional to its weight."""

    keys: np.ndarray  # float64, increasing: group + cumulative fraction inside the group
    items: np.ndarray  # the item at each key position
    totals: np.ndarray  # total weight of each group (0: the group cannot be drawn from)

    @classmethod
    def build(
        cls, groups: np.ndarray, items: np.ndarray, weights: np.ndarray, n_groups: int
    ) -> GroupedSampler:
        """Index ``items`` (one row per item-group pair) by ``groups`` with ``weights`` >= 0."""
        groups = np.asarray(groups, dtype=np.int64)
        order = np.lexsort((np.asarray(items), groups))
        g = groups[order]
        w = np.asarray(weights, dtype=np.float64)[order]
        totals = np.bincount(g, weights=w, minlength=n_groups)
        # Cumulative weight inside each group, computed per group to keep precision.
        cs = np.cumsum(w)
        before = np.concatenate(([0.0], np.cumsum(totals)))[:-1]
        inside = cs - before[g]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(totals[g] > 0, inside / totals[g], 1.0)
        frac = np.clip(frac, 0.0, 1.0)
        keys = g + frac
        keys = np.maximum.accumulate(keys)  # guard against rounding making keys non-monotone
        return cls(keys=keys, items=np.asarray(items)[order], totals=totals)

    def sample(self, rng: np.random.Generator, groups: np.ndarray) -> np.ndarray:
        """One item per entry of ``groups``; every group asked for must have a positive total."""
        groups = np.asarray(groups, dtype=np.int64)
        u = rng.random(groups.shape)
        pos = np.searchsorted(self.keys, groups + u, side="right")
        pos = np.minimum(pos, len(self.keys) - 1)
        return self.items[pos]


def draw_rows(rng: np.random.Generator, choices: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """For each row, one of ``choices[i, :]`` with probability proportional to ``weights[i, :]``.

    Rows whose weights are all zero get -1 (the caller decides the fallback).
    """
    cw = np.cumsum(weights, axis=1)
    total = cw[:, -1]
    r = rng.random(len(cw)) * total
    k = (r[:, None] >= cw).sum(axis=1)
    k = np.minimum(k, choices.shape[1] - 1)
    out = choices[np.arange(len(cw)), k]
    return np.where(total > 0, out, -1)
