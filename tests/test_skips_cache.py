"""The cache simulation: a five-play replay priced by hand; server caches on a tiny trace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import skips_data
from pozytywka.config import CacheParams
from pozytywka.skips.cache import (
    best_cost_threshold,
    chance_note,
    choose_skip_model,
    cost_curve,
    lfu_weights,
    next_use,
    play_costs,
    policy_totals,
    recommend_server_policy,
    server_split,
    simulate_cache,
    skip_awareness_notes,
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


def test_skip_aware_lfu_counts_a_predicted_skip_as_a_fraction():
    """Trace x x y z y through two unit slots, worked by hand.

    LFU: z evicts y (count 1, older than x's 2), then y (now 2) evicts z: one hit (x).
    Skip-aware LFU with x's two plays predicted skips (weight 0.3 each): x counts 0.6,
    so z evicts x, and y stays: two hits (x, y).
    """
    keys = np.array(list("xxyzy"), dtype=object)
    ones = np.ones(5)
    assert simulate_cache(keys, ones, ones, 2.0, "lfu")["hits"] == 1
    weights = np.array([0.3, 0.3, 1.0, 1.0, 1.0])
    res = simulate_cache(keys, ones, ones, 2.0, "skip_aware_lfu", weights=weights)
    assert res["hits"] == 2 and res["byte_hit_ratio"] == pytest.approx(2 / 5)


def test_lfu_weights_are_the_expected_share_read():
    # P(skip) 0: the whole track; 1: the skip point; 0.5 with skip point 0.3: 0.5 + 0.15
    assert lfu_weights(np.array([0.0, 1.0, 0.5]), 0.3).tolist() == pytest.approx([1, 0.3, 0.65])


def _view(rows):
    return pd.DataFrame(rows, columns=["cache_share", "policy", "byte_hit_ratio"])


def test_recommended_policy_is_the_best_realisable_one_never_belady():
    view = _view(
        [
            (0.05, "lru", 0.20),
            (0.05, "lfu", 0.30),
            (0.05, "skip_aware_lru", 0.25),
            (0.05, "skip_aware_lfu", 0.30),  # a tie with lfu: the plain one (listed first)
            (0.05, "belady", 0.50),
            (0.2, "lru", 0.50),
            (0.2, "lfu", 0.40),
            (0.2, "skip_aware_lru", 0.45),
            (0.2, "skip_aware_lfu", 0.41),
            (0.2, "belady", 0.70),
        ]
    )
    rec = recommend_server_policy(view)
    # means over sizes: lru 0.35, lfu 0.35, skip_aware_lru 0.35, skip_aware_lfu 0.355
    assert rec == {"policy": "skip_aware_lfu", "by_size": {"0.05": "lfu", "0.2": "lru"}}


def test_skip_awareness_notes_say_when_it_does_not_pay():
    view = _view(
        [
            (0.01, "lru", 0.100),
            (0.05, "lru", 0.240),
            (0.2, "lru", 0.500),
            (0.01, "skip_aware_lru", 0.1002),
            (0.05, "skip_aware_lru", 0.226),
            (0.2, "skip_aware_lru", 0.480),
            (0.01, "lfu", 0.2),
            (0.05, "lfu", 0.3),
            (0.2, "lfu", 0.6),
            (0.01, "skip_aware_lfu", 0.25),
            (0.05, "skip_aware_lfu", 0.3),
            (0.2, "skip_aware_lfu", 0.6),
        ]
    )
    assert skip_awareness_notes(view) == [
        "skip-aware LRU is below plain LRU at 5-20% of the catalogue (byte hit ratio "
        "0.226 vs 0.240 at 5%, 0.480 vs 0.500 at 20%): skip-awareness does not pay there",
        "skip-aware LFU is above plain LFU at 1% (byte hit ratio 0.250 vs 0.200 at 1%)",
    ]


def test_server_split_validates_on_the_weeks_before_the_replayed_ones():
    weeks = list(range(6))
    assert server_split(weeks, 2) == ([2, 3], [4, 5])
    assert server_split(weeks[:3], 2) == ([0], [1, 2])
    assert server_split(weeks[:2], 2) == ([], [0, 1])


def test_skip_model_for_the_cache_is_the_lowest_validation_log_loss():
    rows = pd.DataFrame({"skipped": [1, 0], "p_a": [0.5, 0.5], "p_b": [0.8, 0.2]})
    name, losses = choose_skip_model(rows, ("a", "b"))
    assert name == "b" and losses["a"] == pytest.approx(np.log(2), abs=1e-6)
    # a separates the two plays not at all (ROC AUC 0.5): at chance; b perfectly: no note
    assert chance_note("a", rows).startswith("the skip model (a) is at chance")
    assert "ROC AUC 0.500" in chance_note("a", rows) and chance_note("b", rows) is None
