"""Set measures of the week's playlists: set reach, the exclusive oracle, capture@k.

Small hand-made worlds; every answer below is computed by hand in the comments.
"""

from __future__ import annotations

import pandas as pd
import pytest

from pozytywka.config import PlaylistParams
from pozytywka.playlists.setmetrics import (
    by_week_columns,
    capture_at_k,
    exclusive_oracle,
    set_reach,
    summarise_sets,
    week_popularity,
    week_set_measures,
)
from pozytywka.plays import weekly_listeners


def _listeners(pairs):
    return pd.DataFrame(pairs, columns=["user_id", "track_id"])


def test_set_reach_counts_each_listener_once():
    played = _listeners(
        [("u1", "a"), ("u1", "b"), ("u2", "b"), ("u3", "c"), ("u3", "c"), ("u4", "d")]
    )
    # Tracks a, b: u1 (both) and u2 -> 2. Adding c adds u3 -> 3. d alone: u4.
    assert set_reach(["a", "b"], played) == 2
    assert set_reach(["a", "b", "c", "b"], played) == 3
    assert set_reach(["d", "zz"], played) == 1
    assert set_reach([], played) == 0
    assert set_reach(["a"], _listeners([])) == 0


def test_capture_at_k_is_per_playlist_over_the_global_top_k():
    # Popularity next week: a 5, b 4, c 3, d 2, e 1 (f unplayed). Global top 2 = 9.
    pop = week_popularity(
        _listeners(
            [(f"u{i}", "a") for i in range(5)]
            + [(f"u{i}", "b") for i in range(4)]
            + [(f"u{i}", "c") for i in range(3)]
            + [(f"u{i}", "d") for i in range(2)]
            + [("u0", "e"), ("u0", "e")]  # a repeated pair counts once
        )
    )
    assert pop.to_dict() == {"a": 5, "b": 4, "c": 3, "d": 2, "e": 1}
    # Playlist 1 starts c, a (then b: beyond k=2): (3 + 5) / 9; playlist 2: d, f -> 2 / 9.
    value = capture_at_k([["c", "a", "b"], ["d", "f"]], pop, k=2)
    assert value == pytest.approx(((3 + 5) / 9 + 2 / 9) / 2)
    # k=3: top 3 = 12; playlist 1: c+a+b = 12 -> 1.0; playlist 2: 2 / 12.
    assert capture_at_k([["c", "a", "b"], ["d", "f"]], pop, k=3) == pytest.approx((1 + 2 / 12) / 2)
    assert capture_at_k([], pop, k=2) is None
    assert capture_at_k([["a"]], pd.Series(dtype="int64"), k=2) is None


def _world():
    """Two genres of 10 one-artist tracks each; "pop" tracks also in "dance".

    rock: r0..r9, pop: p0..p9 (also genre "dance"), indie: i0..i9.
    """
    rows, genres = [], []
    for prefix, gs in (("r", ["rock"]), ("p", ["pop", "dance"]), ("i", ["indie"])):
        for i in range(10):
            tid = f"{prefix}{i}"
            rows.append((tid, f"{prefix} song {i}", f"{prefix}a{i}", i / 10))
            genres += [(tid, g) for g in gs]
    tracks = pd.DataFrame(rows, columns=["track_id", "name", "artist_id", "energy"])
    return tracks, pd.DataFrame(genres, columns=["track_id", "genre"])


def test_the_exclusive_oracle_is_the_same_greedy_on_actual_popularity():
    tracks, tg = _world()
    # Actual popularity: rock tracks 1 each (10), pop 3 each (30), indie 2 each (20).
    actual = {**{f"r{i}": 1.0 for i in range(10)}, **{f"p{i}": 3.0 for i in range(10)}}
    actual.update({f"i{i}": 2.0 for i in range(10)})
    cand = pd.DataFrame({"track_id": list(actual), "actual": list(actual.values())})
    params = PlaylistParams(n_genres=2, min_size=10, max_size=10, max_per_artist=1)
    playlists, skipped = exclusive_oracle(cand, tracks, tg, params)
    # Values: dance 30 = pop 30 (tie: "dance" first by name), indie 20, rock 10.
    # After dance, pop is all published: a near-copy (recorded: 30 >= indie's 20).
    assert [(p["genre"], p["predicted_popularity"]) for p in playlists] == [
        ("dance", 30.0),
        ("indie", 20.0),
    ]
    assert [(s["genre"], s["repeats"]) for s in skipped] == [("pop", ["dance"])]
    # NaN actual counts 0: with pop's actual unknown, indie (20) and rock (10) are taken.
    cand.loc[cand["track_id"].str.startswith("p"), "actual"] = float("nan")
    playlists, _ = exclusive_oracle(cand, tracks, tg, params)
    assert [p["genre"] for p in playlists] == ["indie", "rock"]


def test_week_measures_model_against_oracle_and_the_summary():
    tracks, tg = _world()
    ids = tracks["track_id"].tolist()
    # The model believes in rock (scores 5), then indie (1); pop scores 0.
    # The baseline believes in indie (2), then pop (1); rock 0.
    model = {t: 5.0 if t[0] == "r" else 1.0 if t[0] == "i" else 0.0 for t in ids}
    base = {t: 2.0 if t[0] == "i" else 1.0 if t[0] == "p" else 0.0 for t in ids}
    # Next week: u1..u6 play pop tracks (p0..p5), u7, u8 play rock r0, u9 plays indie i0,
    # u1 also plays i1. Popularity: p0..p5 1 each, r0 2, i0 1, i1 1.
    played = _listeners(
        [(f"u{i}", f"p{i - 1}") for i in range(1, 7)]
        + [("u7", "r0"), ("u8", "r0"), ("u9", "i0"), ("u1", "i1")]
    )
    pop = week_popularity(played)
    actual = [float(pop.get(t, 0)) for t in ids]
    preds = pd.DataFrame(
        {
            "track_id": ids,
            "baseline_score": [base[t] for t in ids],
            "catboost_score": [model[t] for t in ids],
            "actual": actual,
        }
    )
    params = PlaylistParams(n_genres=2, min_size=10, max_size=10, max_per_artist=1)
    row = week_set_measures(preds, played, tracks, tg, params)
    # Oracle: dance/pop (6) then rock (2) (indie 2 too: "indie" < "rock" by name -> indie).
    # Values: dance 6 = pop 6 -> dance; then indie 2 = rock 2 -> indie.
    # Oracle reach: pop's u1..u6 + indie's u9 (u1 already) = 7.
    assert row["listeners"] == 9
    assert row["oracle_reach"] == 7
    # CatBoost: rock (50), indie (10): u7, u8 + u9, u1 = 4 -> share 4/7.
    assert row["catboost_reach"] == 4
    assert row["catboost_reach_share"] == pytest.approx(4 / 7)
    # Baseline: indie (20), then dance (10; pop near-copy): u9, u1 + u1..u6 = 7 -> 1.0.
    assert row["baseline_reach"] == 7
    assert row["baseline_reach_share"] == pytest.approx(1.0)
    # capture@10: global top 10 = r0 2 + eight 1s = 10 (p0..p5, i0, i1).
    # CatBoost: rock 2/10, indie 2/10 -> 0.2. Oracle: dance 6/10, indie 2/10 -> 0.4.
    assert row["catboost_capture_at_10"] == pytest.approx(0.2)
    assert row["oracle_capture_at_10"] == pytest.approx(0.4)
    assert row["baseline_capture_at_10"] == pytest.approx(0.4)
    # capture@20 (playlists of 10): top 20 = 10 as well (only 9 tracks played).
    assert row["catboost_capture_at_20"] == pytest.approx(0.2)
    assert row["catboost_playlists"] == row["oracle_playlists"] == 2

    # Two weeks: the second one the same but CatBoost equal to the oracle.
    second = dict(row, week_start="2024-01-08", target_week="2024-01-15")
    second.update(catboost_reach=7, catboost_reach_share=1.0, catboost_capture_at_10=0.4)
    first = dict(row, week_start="2024-01-01", target_week="2024-01-08")
    by_week = pd.DataFrame([first, second], columns=by_week_columns())
    out = summarise_sets(by_week, n_genres=2)
    assert out["weeks_evaluated"] == 2
    assert out["evaluated_weeks"] == ["2024-01-01", "2024-01-08"]
    assert out["catboost"]["reach"] == pytest.approx(5.5)
    assert out["catboost"]["reach_share"] == pytest.approx(round((4 / 7 + 1) / 2, 6))
    assert out["catboost"]["capture_at_10"] == pytest.approx(0.3)
    lo, hi = out["catboost"]["capture_at_10_ci_low"], out["catboost"]["capture_at_10_ci_high"]
    assert 0 < lo < 0.3 < hi < 1
    assert out["oracle"]["reach_share"] == 1.0
    # Reach 4 and 7: t interval 5.5 +- 12.706 x 1.5 reaches below 0: clipped (a count).
    assert out["catboost"]["reach_ci_low"] == 0.0
    assert out["catboost"]["reach_ci_high"] == pytest.approx(5.5 + 12.7062047 * 1.5, abs=1e-5)
    # Week 1: 4 < 7 (baseline better); week 2: 7 = 7 (tie).
    assert out["weeks_catboost_reach_better"] == 0
    assert out["weeks_catboost_reach_tied"] == 1
    # One week: no interval, and never NaN.
    one = summarise_sets(by_week.iloc[:1], n_genres=2)
    assert one["catboost"]["reach_ci_low"] is None and one["interval"].startswith("too few")
    # No oracle reach in a week: the share is undefined (null), not 0/0.
    empty = by_week.iloc[:1].assign(oracle_reach=0, catboost_reach_share=None)
    assert summarise_sets(empty, 2)["catboost"]["reach_share"] is None


def test_weekly_listeners_are_the_full_plays_of_complete_weeks():
    t = pd.Timestamp
    rows = [
        # session s1 (u1): a played then skipped -> not full; b played through.
        ("s1", t("2024-01-01 10:00"), "u1", "a", "play"),
        ("s1", t("2024-01-01 10:01"), "u1", "a", "skip"),
        ("s1", t("2024-01-01 10:02"), "u1", "b", "play"),
        # u2 plays b twice through in week 1 (one row), a in week 2.
        ("s2", t("2024-01-02 10:00"), "u2", "b", "play"),
        ("s2", t("2024-01-02 10:05"), "u2", "b", "play"),
        ("s3", t("2024-01-09 10:00"), "u2", "a", "play"),
        # a null user is nobody to count.
        ("s4", t("2024-01-09 11:00"), None, "a", "play"),
        # the log ends on Monday 2024-01-22: weeks 01-01..01-15 complete, 01-22 is not.
        ("s5", t("2024-01-22 00:00"), "u3", "c", "play"),
    ]
    sessions = pd.DataFrame(
        rows, columns=["session_id", "timestamp", "user_id", "track_id", "event_type"]
    )
    out = weekly_listeners(sessions)
    got = [(str(w.date()), u, tr) for w, u, tr in out.itertuples(index=False)]
    assert got == [("2024-01-01", "u1", "b"), ("2024-01-01", "u2", "b"), ("2024-01-08", "u2", "a")]
