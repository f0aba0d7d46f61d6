"""Top-k metrics of recommendation lists against what each listener fully played (DESIGN §11).

Inputs: ``recs`` (listeners x K track indices, best first) and ``truth`` (CSR,
the same listeners' rows, 1 = fully played in the evaluated week). Per listener,
with ``hit_i`` = 1 when the track at rank i (0-based) is relevant and
``R`` = number of relevant tracks (the definitions of Järvelin & Kekäläinen 2002
for NDCG, binary gains; MAP@k as in Rendle's "Item recommendation from implicit
feedback", 2021):

- ``recall@k = sum_{i<k} hit_i / R`` (the oracle reaches ``min(R, k) / R``);
- ``ndcg@k = DCG / IDCG``, ``DCG = sum_{i<k} hit_i / log2(i + 2)``, IDCG the DCG of
  ``min(R, k)`` hits at the top;
- ``map@k = sum_{i<k} hit_i * precision@(i+1) / min(R, k)``.

Catalogue coverage@k: share of the catalogue's tracks in at least one listener's
top k. Novelty@k (Zhou et al., PNAS 2010): the mean of ``-log2(p_t)`` over the
recommended tracks, ``p_t`` = share of listeners with history who played t before
the week (at least one listener's share, so a never-played track is finite).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

KS = (10, 20)
NAMES = ("recall", "ndcg", "map")


def hits_matrix(recs: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """Listeners x K booleans: is the recommended track relevant."""
    if recs.size == 0:
        return np.zeros(recs.shape, dtype=bool)
    rows = np.repeat(np.arange(recs.shape[0]), recs.shape[1])
    return np.asarray(truth[rows, recs.ravel()]).reshape(recs.shape) > 0


def per_user(recs: np.ndarray, truth: sp.csr_matrix, ks=KS) -> dict[str, np.ndarray]:
    """Recall, NDCG and MAP at each k, one value per listener (``recall_at_10``, ...)."""
    hits = hits_matrix(recs, truth).astype(np.float64)
    n_rel = np.diff(truth.indptr).astype(np.float64)
    if (n_rel == 0).any():
        raise ValueError("every evaluated listener needs at least one relevant track")
    out = {}
    for k in ks:
        h = hits[:, :k]
        kk = h.shape[1]
        discount = 1.0 / np.log2(np.arange(kk) + 2.0)
        ideal_n = np.minimum(n_rel, k).astype(int)
        idcg = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])[ideal_n]
        precision = np.cumsum(h, axis=1) / np.arange(1, kk + 1)
        out[f"recall_at_{k}"] = h.sum(axis=1) / n_rel
        out[f"ndcg_at_{k}"] = (h * discount).sum(axis=1) / idcg
        out[f"map_at_{k}"] = (h * precision).sum(axis=1) / np.minimum(n_rel, k)
    return out


def oracle_recall(truth: sp.csr_matrix, k: int, heard: sp.csr_matrix | None = None) -> np.ndarray:
    """The best recall@k any list can reach, per listener; with ``heard``, unseen tracks only."""
    n_rel = np.diff(truth.indptr).astype(np.float64)
    reachable = n_rel
    if heard is not None:
        reachable = n_rel - np.asarray(truth.multiply(heard > 0).sum(axis=1)).ravel()
    return np.minimum(reachable, k) / n_rel


def coverage(recs: np.ndarray, k: int, n_items: int) -> float:
    """Share of the catalogue in at least one listener's top k."""
    return float(len(np.unique(recs[:, :k]))) / n_items if n_items else 0.0


def novelty(recs: np.ndarray, k: int, heard: sp.csr_matrix) -> float:
    """Mean self-information ``-log2(p_t)`` of the recommended tracks (see the module doc)."""
    with_history = max(int((np.diff(heard.indptr) > 0).sum()), 1)
    listeners = np.asarray((heard > 0).sum(axis=0)).ravel().astype(np.float64)
    p = np.maximum(listeners, 1.0) / with_history
    return float(np.mean(-np.log2(p[recs[:, :k]]))) if recs.size else 0.0
