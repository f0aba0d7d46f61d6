"""The cache simulation: a five-play replay priced by hand; server caches on a tiny trace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import skips_data
from pozytywka.config import CacheParams
from pozytywka.skips.cache import (
    best_cost_threshold,
    cost_curve,
    next_use,
    play_costs,
    policy_totals,
    simulate_cache,
)

# 8 kbps: a track of d seconds is d * 1000 bytes; 1e6 per GB: each 1000 bytes cost 1
PARAMS = CacheParams(
    bitrate_kbps=8.0,
    skip_point=0.5,
    transfer_per_gb=1e6,
    slow_fee_slow=10.0,
    slow_fee_medium=5.0,
    slow_fee_fast=1.0,
    daily_cost_share=1.0,
)


@pytest.fixture
def five_plays():
    """t1: 200 s, slow storage, daily cost 1; t2: 100 s, fast, 2; t3: 50 s, no storage row."""
    plays = pd.DataFrame(
        {
            "play_id": [1, 2, 3, 4, 5],
            "track_id": ["t2", "t2", "t1", "t1", "t3"],
            "skipped": [1, 0, 1, 0, 0],
            # 25 s into t2; the t1 skip has no usable position (at the play's instant)
            "skip_after_s": [25.0, np.nan, 0.0, np.nan, np.nan],
            "p_model": [0.9, 0.2, 0.4, 0.6, 0.1],
        }
    )
    return play_costs(plays, skips_data.tracks(), skips_data.storage(), PARAMS)


def test_five_play_costs_by_hand(five_plays):
    c = five_plays
    assert c["size_bytes"].tolist() == [100_000, 100_000, 200_000, 200_000, 50_000]
    assert c["played_bytes"].tolist() == [25_000, 100_000, 100_000, 200_000, 50_000]
    assert c["fetch_cost"].tolist() == pytest.approx([100, 100, 200, 200, 50])
    # slow delivery: t2 fast fee 1 + daily 2 = 3; t1 slow 10 + 1 = 11; t3: slow 10 + median 1.5
    assert c["stream_cost"].tolist() == pytest.approx([25, 103, 100, 211, 61.5])

    always = policy_totals(c, np.ones(5, bool))
    never = policy_totals(c, np.zeros(5, bool))
    oracle = policy_totals(c, c["skipped"].to_numpy() == 0)
    assert always["cost"] == pytest.approx(650) and always["wasted_bytes"] == 175_000
    assert never["cost"] == pytest.approx(500.5) and never["slow_deliveries"] == 3
    assert oracle["cost"] == pytest.approx(475) and oracle["slow_deliveries"] == 0
    assert oracle["wasted_bytes"] == 0
    model = policy_totals(c, c["p_model"].to_numpy() < 0.5)  # streams plays 1 and 4
    assert model["cost"] == pytest.approx(25 + 100 + 200 + 211 + 50)
    assert model["slow_deliveries"] == 1 and model["wasted_bytes"] == 100_000


def test_threshold_curve_and_choice(five_plays):
    p = five_plays["p_model"].to_numpy()
    curve = cost_curve(five_plays, p, np.array([0.0, 0.3, 0.5, 0.95]))
    # t=0 streams all (never); 0.3 streams p >= 0.3 (plays 1, 3, 4); 0.95 fetches all (always)
    assert curve.tolist() == pytest.approx([500.5, 25 + 100 + 100 + 211 + 50, 586, 650])
    assert best_cost_threshold(five_plays, p, np.array([0.0, 0.25, 0.5, 0.75, 1.0])) == 0.25


def test_next_use():
    assert next_use(np.array(list("abacba"), dtype=object)).tolist() == [2, 4, 5, 6, 6, 6]


@pytest.mark.parametrize(
    ("policy", "hits"),
    [("lru", 1), ("lfu", 2), ("belady", 3), ("skip_aware_lru", 3)],
)
def test_server_caches_on_a_tiny_trace(policy, hits):
    """Trace a b a c b a through two unit-size slots, worked by hand:

    LRU: c evicts b, b evicts a, a evicts c: one hit. LFU (counts since the start): c
    evicts b (1 use), b (now 2 uses) evicts c: two hits. Belady: c is never needed again
    and bypasses: three hits. Skip-aware: c (predicted skip) is not admitted: three hits.
    """
    keys = np.array(list("abacba"), dtype=object)
    admit = np.array([True, True, True, False, True, True])
    res = simulate_cache(keys, np.ones(6), np.ones(6) * 2, 2.0, policy, admit)
    assert res["hits"] == hits
    assert res["hit_ratio"] == pytest.approx(hits / 6)
    assert res["byte_hit_ratio"] == pytest.approx(hits / 6)


def test_belady_is_the_bound_on_a_random_trace():
    rng = np.random.default_rng(0)
    keys = rng.choice(list("abcdefghij"), size=400, p=np.linspace(2, 0.2, 10) / 11.0)
    sizes = pd.Series(keys).map(dict(zip("abcdefghij", rng.integers(1, 4, 10), strict=True)))
    sizes = sizes.to_numpy(dtype=float)
    results = {
        p: simulate_cache(keys.astype(object), sizes, sizes, 6.0, p)["hits"]
        for p in ("lru", "lfu", "belady")
    }
    assert results["belady"] >= max(results["lru"], results["lfu"])
