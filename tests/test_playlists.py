"""Playlist rules (DESIGN §4): examples with hand-checked answers and properties for any input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pozytywka.config import PlaylistParams
from pozytywka.errors import ParamError, PozytywkaError
from pozytywka.playlists.publish import (
    build_playlist_set,
    build_playlists,
    choose_published_model,
    order_by_similarity,
    playlist_document,
    playlist_metrics,
    playlists_markdown,
)


def _tracks(rows):
    """rows: (track_id, name, artist_id, energy)."""
    t = pd.DataFrame(rows, columns=["track_id", "name", "artist_id", "energy"])
    t["danceability"] = 0.5
    return t


def _world(*blocks):
    """(scores, tracks, track_genres) from blocks of tracks.

    A block: (prefix, n, genres, artist(i), score(i)); track i is ``{prefix}{i:02d}``,
    named "{prefix} song {i}", with energy i / n.
    """
    rows, genres, scores = [], [], []
    for prefix, n, block_genres, artist, score in blocks:
        for i in range(n):
            tid = f"{prefix}{i:02d}"
            rows.append((tid, f"{prefix} song {i}", artist(i), i / n))
            genres += [(tid, g) for g in block_genres]
            scores.append((tid, score(i)))
    return (
        pd.DataFrame(scores, columns=["track_id", "score"]),
        _tracks(rows),
        pd.DataFrame(genres, columns=["track_id", "genre"]),
    )


def _small_world():
    # Genre "rock": 14 tracks by 7 artists (2 each) -> fills; genre "jazz": 12 tracks by
    # 3 artists -> at most 6 with max_per_artist=2 -> skipped; genre "pop": 11 tracks.
    return _world(
        ("r", 14, ["rock"], lambda i: f"ra{i // 2}", lambda i: 10.0 + i),
        ("j", 12, ["jazz"], lambda i: f"ja{i % 3}", lambda i: 100.0),
        ("p", 11, ["pop"], lambda i: f"pa{i}", lambda i: 1.0),
    )


def test_skipped_genre_is_reported_and_the_next_one_takes_its_place():
    scores, tracks, tg = _small_world()
    params = PlaylistParams(n_genres=2, min_size=10, max_size=12, max_per_artist=2)
    playlists, skipped = build_playlist_set(scores, tracks, tg, params)
    # jazz has the highest value (its 6 eligible tracks x 100 = 600) but only 6 tracks.
    assert [s["genre"] for s in skipped] == ["jazz"]
    assert skipped[0]["eligible_tracks"] == 6
    assert "min_size 10" in skipped[0]["reason"]
    assert [p["genre"] for p in playlists] == ["rock", "pop"]
    rock = playlists[0]
    # rock: 12 best of 14 (scores 12..23 -> r02..r13), 2 per artist is fine here.
    assert {t["track_id"] for t in rock["tracks"]} == {f"r{i:02d}" for i in range(2, 14)}
    # Its value: the summed scores of the tracks it publishes (12 + ... + 23).
    assert rock["predicted_popularity"] == pytest.approx(210.0)
    assert skipped[0]["predicted_popularity"] == pytest.approx(600.0)
    # The chain starts at the top-scored track.
    assert rock["tracks"][0]["track_id"] == "r13"
    assert len(playlists[1]["tracks"]) == 11


def test_artist_cap_and_same_song_under_another_id():
    rows = [(f"t{i:02d}", f"song {i}", f"a{i % 6}", 0.1 * i) for i in range(12)]
    # t90 is "Song 0 " by a0 again (a duplicate song under another id), best score.
    rows.append(("t90", " Song  0", "a0", 0.0))
    tracks = _tracks(rows)
    tg = pd.DataFrame({"track_id": tracks["track_id"], "genre": "g"})
    scores = pd.DataFrame({"track_id": tracks["track_id"], "score": np.arange(13.0)})
    params = PlaylistParams(n_genres=1, min_size=10, max_size=20, max_per_artist=2)
    (p,) = build_playlists(scores, tracks, tg, params)
    ids = [t["track_id"] for t in p["tracks"]]
    assert "t90" in ids and "t00" not in ids  # the better-scored copy wins
    assert len(ids) == 12  # 6 artists x 2


def test_only_the_same_song_rule_rejects_a_copy_under_another_id():
    # Eleven artists with one song each, and t90: "SONG 0" by a0 again under another id.
    # a0 then has 2 tracks (the cap), so only duplicate detection can reject the copy.
    rows = [(f"t{i:02d}", f"song {i}", f"a{i}", 0.1 * i) for i in range(11)]
    rows.append(("t90", "SONG   0 ", "a0", 0.0))
    # The same name by another artist is another song: it stays.
    rows.append(("t91", "song 1", "a99", 0.0))
    tracks = _tracks(rows)
    tg = pd.DataFrame({"track_id": tracks["track_id"], "genre": "g"})
    scores = pd.DataFrame({"track_id": tracks["track_id"], "score": np.arange(13.0, 0.0, -1.0)})
    params = PlaylistParams(n_genres=1, min_size=10, max_size=20, max_per_artist=2)
    (p,) = build_playlists(scores, tracks, tg, params)
    ids = sorted(t["track_id"] for t in p["tracks"])
    # t00 (score 13) is kept, its copy t90 (score 2) is not; t91 is kept.
    assert ids == sorted([f"t{i:02d}" for i in range(11)] + ["t91"])


def _overlapping_world():
    """Three genres: "soft rock" is "mellow gold" plus 2 tracks; "jazz" is its own.

    Scores: mellow gold's 12 shared tracks score 10..21, soft rock's own 2 score 5
    and 6, jazz's 12 score 1 each, so the genre ranking is soft rock (the sum over
    14 tracks), mellow gold, jazz.
    """
    return _world(
        ("m", 12, ["mellow gold", "soft rock"], lambda i: f"ma{i}", lambda i: 10.0 + i),
        ("s", 2, ["soft rock"], lambda i: f"sa{i}", lambda i: 5.0 + i),
        ("j", 12, ["jazz"], lambda i: f"ja{i}", lambda i: 1.0),
    )


def test_a_genre_that_would_repeat_a_chosen_one_is_passed_over():
    scores, tracks, tg = _overlapping_world()
    params = PlaylistParams(n_genres=2, min_size=10, max_size=20, max_per_artist=2)
    assert params.max_shared_tracks == 0  # the default: a track in at most one playlist
    assert params.near_copy_share == 0.5
    playlists, skipped = build_playlist_set(scores, tracks, tg, params)
    # Values alone: soft rock 10+..+21 + 5 + 6 = 197, mellow gold 186, jazz 12.
    # Soft rock is taken with all 14 tracks; all 12 of mellow gold's are now published
    # (12 >= 0.5 x 12): a near-copy, recorded because alone (186) it beats jazz (12).
    assert [(p["genre"], p["predicted_popularity"]) for p in playlists] == [
        ("soft rock", 197.0),
        ("jazz", 12.0),
    ]
    assert [(s["genre"], s["eligible_tracks"], s["repeats"]) for s in skipped] == [
        ("mellow gold", 0, ["soft rock"])
    ]
    assert skipped[0]["predicted_popularity"] == 186.0
    assert skipped[0]["reason"] == (
        "would repeat soft rock: 12 of its 12 tracks already published (near_copy_share 0.5)"
    )
    ids = [t["track_id"] for p in playlists for t in p["tracks"]]
    assert len(ids) == len(set(ids)) == 26


def test_a_near_copy_below_the_weakest_playlist_is_not_recorded():
    # Jazz now scores 20 a track (240 alone): soft rock (197) comes second and mellow
    # gold (186 alone) would not have made the list of 2 anyway: no record.
    scores, tracks, tg = _overlapping_world()
    scores.loc[scores["track_id"].str.startswith("j"), "score"] = 20.0
    params = PlaylistParams(n_genres=2, min_size=10, max_size=20, max_per_artist=2)
    playlists, skipped = build_playlist_set(scores, tracks, tg, params)
    assert [p["genre"] for p in playlists] == ["jazz", "soft rock"]
    assert skipped == []


def test_a_genre_left_with_too_few_unused_tracks_is_a_near_copy():
    # A: x00..x05 (also in B) and y00..y13, all scoring 10: 200. B: x00..x05 and its
    # own b00..b07 scoring 9: 6 x 10 + 8 x 9 = 132 alone. C: 10 tracks scoring 1.
    # After A, B has 6 of 14 published (< 0.5 x 14: not a near-copy by share) but only
    # its 8 own tracks left (value 72 > C's 10): it reaches the top, short of min_size.
    scores, tracks, tg = _world(
        ("x", 6, ["A", "B"], lambda i: f"xa{i}", lambda i: 10.0),
        ("y", 14, ["A"], lambda i: f"ya{i}", lambda i: 10.0),
        ("b", 8, ["B"], lambda i: f"ba{i}", lambda i: 9.0),
        ("c", 10, ["C"], lambda i: f"cc{i}", lambda i: 1.0),
    )
    params = PlaylistParams(n_genres=2, min_size=10, max_size=20, max_per_artist=2)
    for lazy in (None, False):
        playlists, skipped = build_playlist_set(scores, tracks, tg, params, lazy=lazy)
        assert [p["genre"] for p in playlists] == ["A", "C"]
        assert skipped == [
            {
                "genre": "B",
                "predicted_popularity": 132.0,
                "eligible_tracks": 8,
                "reason": "would repeat A: only 8 tracks not already published "
                "(min_size 10, max_shared_tracks 0)",
                "repeats": ["A"],
            }
        ]


def test_the_greedy_takes_what_adds_most_not_the_biggest_genre():
    # "rock" holds the 20 best tracks of "classic rock" (30 tracks) and 20 tracks of its
    # own; "metal" has 20 tracks of its own. Alone: classic rock 30 x 10 = 300 (its best 20
    # = 200), rock 20 x 10 + 20 x 4 -> its best 20 = 200 as well, metal 20 x 6 = 120.
    # Old rule (rank on all tracks): classic rock (300), rock (280): rock's tail.
    # Greedy: classic rock (200, before rock by name), then rock would add only its
    # own 20 x 4 = 80 < metal's 120: metal; rock is a near-copy (its 20 best published).
    scores, tracks, tg = _world(
        ("c", 20, ["classic rock", "rock"], lambda i: f"ca{i}", lambda i: 10.0),
        ("d", 10, ["classic rock"], lambda i: f"da{i}", lambda i: 10.0),
        ("r", 20, ["rock"], lambda i: f"ra{i}", lambda i: 4.0),
        ("m", 20, ["metal"], lambda i: f"ma{i}", lambda i: 6.0),
    )
    params = PlaylistParams(n_genres=2, min_size=10, max_size=20, max_per_artist=2)
    playlists, skipped = build_playlist_set(scores, tracks, tg, params)
    assert [(p["genre"], p["predicted_popularity"]) for p in playlists] == [
        ("classic rock", 200.0),
        ("metal", 120.0),
    ]
    # Classic rock's 20 ties are broken by track_id: c00..c19 (then d00..d09 are left).
    assert {t["track_id"] for t in playlists[0]["tracks"]} == {f"c{i:02d}" for i in range(20)}
    assert [(s["genre"], s["eligible_tracks"], s["repeats"]) for s in skipped] == [
        ("rock", 20, ["classic rock"])
    ]
    assert skipped[0]["reason"].startswith("would repeat classic rock: 20 of its 20 tracks")


def test_max_shared_tracks_lets_playlists_share_a_few():
    scores, tracks, tg = _overlapping_world()
    # Share at most 10: mellow gold keeps its 10 best shared tracks (m02..m11).
    params = PlaylistParams(
        n_genres=2, min_size=10, max_size=20, max_per_artist=2, max_shared_tracks=10
    )
    playlists, skipped = build_playlist_set(scores, tracks, tg, params)
    assert [p["genre"] for p in playlists] == ["soft rock", "mellow gold"] and skipped == []
    mellow = {t["track_id"] for t in playlists[1]["tracks"]}
    assert mellow == {f"m{i:02d}" for i in range(2, 12)}
    # The same song under another id counts as shared too.
    renamed = tracks.copy()
    copies = renamed[renamed["track_id"].str.startswith("m")].copy()
    copies["track_id"] = "x" + copies["track_id"].str[1:]
    tg2 = pd.concat(
        [
            tg[tg["genre"] != "mellow gold"],
            pd.DataFrame({"track_id": copies["track_id"], "genre": "mellow gold"}),
        ]
    )
    scores2 = pd.concat(
        [scores, pd.DataFrame({"track_id": copies["track_id"], "score": 9.0})], ignore_index=True
    )
    playlists, skipped = build_playlist_set(
        scores2, pd.concat([renamed, copies]), tg2, PlaylistParams(n_genres=2, max_per_artist=2)
    )
    # Soft rock publishes m00..m11: mellow gold's x00..x11 are the same 12 songs.
    assert [p["genre"] for p in playlists] == ["soft rock", "jazz"]
    assert [(s["genre"], s["repeats"]) for s in skipped] == [("mellow gold", ["soft rock"])]


def test_tie_breaking_by_track_id():
    rows = [(f"t{i:02d}", f"s{i}", f"a{i}", 0.5) for i in range(25)]
    tracks = _tracks(rows)
    tg = pd.DataFrame({"track_id": tracks["track_id"], "genre": "g"})
    scores = pd.DataFrame({"track_id": tracks["track_id"], "score": 1.0})
    params = PlaylistParams(n_genres=1, min_size=10, max_size=20, max_per_artist=2)
    (p,) = build_playlists(scores, tracks, tg, params)
    assert sorted(t["track_id"] for t in p["tracks"]) == [f"t{i:02d}" for i in range(20)]
    assert p["tracks"][0]["track_id"] == "t00"


def test_order_is_a_short_path():
    # Points on a line, given shuffled: the path from point 0 must walk the line.
    xs = np.array([0.0, 5.0, 1.0, 4.0, 2.0, 3.0])[:, None]
    path = order_by_similarity(xs)
    assert path[0] == 0
    assert [float(xs[i, 0]) for i in path] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_two_opt_beats_greedy():
    # Greedy from 0 goes to 1 (dist 1) then must jump back; 2-opt must not be longer.
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [-1.1, 0.0], [2.0, 0.0], [-2.0, 0.0]])
    path = order_by_similarity(pts)

    def length(p):
        return sum(np.linalg.norm(pts[a] - pts[b]) for a, b in zip(p, p[1:], strict=False))

    greedy = [0, 1, 3, 2, 4]
    assert path[0] == 0
    assert length(path) <= length(greedy) + 1e-9


def test_bad_size_params_are_one_line_errors():
    with pytest.raises(ParamError, match="min_size"):
        PlaylistParams(min_size=15, max_size=12)


def test_document_markdown_and_metrics():
    scores, tracks, tg = _small_world()
    params = PlaylistParams(n_genres=2, min_size=10, max_size=12, max_per_artist=2)
    pl, sk = build_playlist_set(scores, tracks, tg, params)
    doc = playlist_document(pd.Timestamp("2024-07-29"), "catboost", pl, sk)
    assert doc["week_start"] == "2024-07-29"
    assert set(doc["playlists"][0]["tracks"][0]) == {"track_id", "name", "artist", "score"}
    md = playlists_markdown(doc)
    assert "## 1. rock" in md and "Skipped genres" in md and "jazz" in md
    other = playlist_document(pd.Timestamp("2024-07-29"), "baseline", pl[:1], sk)
    m = playlist_metrics({"catboost": doc, "baseline": other}, "catboost")
    assert m["n_playlists"] == 2 and m["n_tracks"] == 23 and m["n_skipped"] == 1
    assert m["genre_jaccard_baseline_catboost"] == 0.5
    assert m["track_jaccard_baseline_catboost"] == pytest.approx(12 / 23, abs=1e-6)


def _offline(base, cat):
    return {"k": 10, "baseline": {"ndcg_at_k": base}, "catboost": {"ndcg_at_k": cat}}


def test_auto_publishes_the_model_with_the_better_backtest_ndcg():
    assert PlaylistParams().model == "auto"  # the default
    model, reason = choose_published_model("auto", _offline(0.88, 0.93))
    assert model == "catboost"
    assert reason == (
        "auto: CatBoost has the better backtest NDCG@10 0.9300 (CatBoost) vs 0.8800 (baseline)"
    )
    assert choose_published_model("auto", _offline(0.6, 0.5))[0] == "baseline"
    # Tie rule: equal at offline.json's 6 digits -> the simpler baseline.
    model, reason = choose_published_model("auto", _offline(0.5, 0.5000001))
    assert model == "baseline" and "a tie" in reason
    assert choose_published_model("auto", _offline(0.5, 0.500001))[0] == "catboost"
    # An explicit choice is published as asked, whatever the backtest says.
    assert choose_published_model("catboost", _offline(0.9, 0.1)) == (
        "catboost",
        "playlists.model is catboost",
    )
    with pytest.raises(PozytywkaError, match="no catboost ndcg_at_k"):
        choose_published_model("auto", {"baseline": {"ndcg_at_k": 0.5}})


# --- properties: the rules hold for any input ---------------------------------------------

names = st.sampled_from(["a", "b", "A ", "c", "d", None])


@st.composite
def worlds(draw):
    n = draw(st.integers(0, 70))
    n_artists = draw(st.integers(1, 12))
    genres = ["g0", "g1", "g2", "g3"]
    rows, tg = [], []
    ids = draw(st.lists(st.integers(0, 200), min_size=n, max_size=n, unique=True))
    for i in ids:
        tid = f"t{i:03d}"
        rows.append(
            (tid, draw(names), f"a{draw(st.integers(0, n_artists - 1))}", draw(st.floats(0, 1)))
        )
        for g in draw(st.lists(st.sampled_from(genres), min_size=0, max_size=3)):
            tg.append((tid, g))
    tracks = _tracks(rows) if rows else _tracks([]).astype({"energy": float})
    tg = pd.DataFrame(tg, columns=["track_id", "genre"])
    scores = pd.DataFrame(
        {
            # Some tracks scored twice (the best score counts), some not at all.
            "track_id": [r[0] for r in rows] + [r[0] for r in rows[:3]],
            "score": [float(draw(st.integers(0, 5))) for _ in range(len(rows) + min(3, n))],
        }
    )
    min_size = draw(st.integers(10, 20))
    params = PlaylistParams(
        n_genres=draw(st.integers(1, 4)),
        min_size=min_size,
        max_size=draw(st.integers(min_size, 20)),
        max_per_artist=draw(st.integers(1, 4)),
        max_shared_tracks=draw(st.sampled_from([0, 0, 1, 3, 20])),
    )
    return scores, tracks, tg, params


def _norm(name):
    return None if name is None or pd.isna(name) else " ".join(name.split()).casefold()


@given(worlds(), st.randoms(use_true_random=False))
def test_playlist_rules_hold_for_any_input(world, rnd):
    scores, tracks, tg, params = world
    playlists, skipped = build_playlist_set(scores, tracks, tg, params)
    first = tracks.drop_duplicates("track_id").set_index("track_id")
    best = scores.groupby("track_id")["score"].max()
    assert len(playlists) <= params.n_genres
    assert len({p["genre"] for p in playlists} | {s["genre"] for s in skipped}) == len(
        playlists
    ) + len(skipped)
    published: list[tuple[set, set]] = []  # (track ids, songs) of the playlists so far
    for p in playlists:
        ids = [t["track_id"] for t in p["tracks"]]
        assert params.min_size <= len(ids) <= params.max_size
        assert len(set(ids)) == len(ids)
        songs = [(_norm(first.loc[i, "name"]), first.loc[i, "artist_id"]) for i in ids]
        songs = [s for s in songs if s[0]]
        assert len(set(songs)) == len(songs)
        artists = pd.Series([first.loc[i, "artist_id"] for i in ids]).value_counts()
        assert artists.max() <= params.max_per_artist
        genre_tracks = set(tg.loc[tg["genre"] == p["genre"], "track_id"])
        assert set(ids) <= genre_tracks
        # Best first: any genre track left out that ranks above a chosen one was blocked
        # by a rule (a duplicate song or a full artist).
        worst = min((best[i], _neg(i)) for i in ids)
        for other in genre_tracks - set(ids):
            if other in best.index and (best[other], _neg(other)) > worst:
                a = first.loc[other, "artist_id"]
                song = (_norm(first.loc[other, "name"]), a)
                earlier = any(other in i or (song[0] and song in g) for i, g in published)
                assert artists.get(a, 0) >= params.max_per_artist or song in songs or earlier
        # Overlap: any two playlists share at most max_shared_tracks songs (by id or name).
        for earlier_ids, earlier_songs in published:
            shared = {i for i in ids if i in earlier_ids} | {
                i for i, s in zip(ids, songs_of(first, ids), strict=True) if s in earlier_songs
            }
            assert len(shared) <= params.max_shared_tracks
        published.append((set(ids), set(songs)))
    for s in skipped:
        # Too few tracks, or a near-copy (then it names the chosen genres it repeats).
        assert s["eligible_tracks"] < params.min_size or s["repeats"]
        # Passed over for overlap only when it would repeat a genre that was published.
        assert set(s.get("repeats", [])) <= {p["genre"] for p in playlists}
    # Deterministic: row order does not matter.
    perm = list(range(len(scores)))
    rnd.shuffle(perm)
    again = build_playlist_set(
        scores.iloc[perm], tracks.iloc[::-1], tg.sample(frac=1, random_state=1), params
    )
    assert again == (playlists, skipped)
    # Lazy re-evaluation (stale values as upper bounds) gives plain greedy's answer.
    assert build_playlist_set(scores, tracks, tg, params, lazy=False) == (playlists, skipped)


def songs_of(first: pd.DataFrame, ids: list[str]) -> list[tuple]:
    """(normalised name, artist) per track id; None names never match (no name, no song)."""
    out = []
    for i in ids:
        name = _norm(first.loc[i, "name"])
        out.append((name, first.loc[i, "artist_id"]) if name else (None, i))
    return out


def _neg(track_id: str) -> tuple:
    """Order key where a smaller track_id ranks higher at equal score."""
    return tuple(-ord(c) for c in track_id)


def test_what_the_overlap_rule_costs_on_a_backtest_week():
    from pozytywka.playlists.overlap import published_overlap_by_week

    scores, tracks, tg = _overlapping_world()
    # Listeners next week: every mellow gold / soft rock track once, jazz not at all.
    predictions = scores.rename(columns={"score": "catboost_score"}).assign(
        week_start=pd.Timestamp("2024-07-01"),
        actual=[0.0 if t.startswith("j") else 1.0 for t in scores["track_id"]],
    )
    params = dict(n_genres=2, min_size=10, max_size=20, max_per_artist=2)
    free = published_overlap_by_week(
        predictions, tracks, tg, PlaylistParams(**params, max_shared_tracks=20)
    )
    ruled = published_overlap_by_week(predictions, tracks, tg, PlaylistParams(**params))
    # No rule: soft rock (14) + mellow gold (its 12, all in soft rock): 26 slots, 14 tracks.
    cols = ["slots", "distinct", "captured_popularity", "captured_distinct"]
    assert free.iloc[0][cols].tolist() == [26, 14, 26.0, 14.0]
    # The rule: soft rock + jazz, 26 distinct tracks, but jazz drew no listeners.
    assert ruled.iloc[0][cols].tolist() == [26, 26, 14.0, 14.0]
    assert ruled.iloc[0]["distinct_share"] == 1.0
    assert free.iloc[0]["distinct_share"] == pytest.approx(14 / 26)
