"""The synthetic service: determinism, the exact dump format, dirt, and the behaviour model.

All at a small scale (a few hundred users, eight weeks) so the module runs in seconds.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pozytywka.config import Params, SyntheticParams, params_from_dict
from pozytywka.errors import ParamError
from pozytywka.stages.generate import generate_dump
from pozytywka.synthetic import build_world, simulate_history, simulate_week
from pozytywka.synthetic.dirt import STANDARD
from pozytywka.synthetic.simulate import history_events

SMALL = SyntheticParams(
    seed=3,
    users=300,
    artists=40,
    tracks_per_artist=6.0,
    genres=8,
    weeks=8,
    sessions_per_user_week=1.5,
    events_per_session=8.0,
    dirt="none",
)
FILES = ("artists", "tracks", "users", "sessions", "track_storage")
AUDIO = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
)


def _params(**synthetic) -> Params:
    return Params(
        data=dataclasses.replace(Params().data, synthetic=dataclasses.replace(SMALL, **synthetic))
    )


def _generate(tmp_path: Path, name: str, **synthetic) -> Path:
    target = tmp_path / name
    generate_dump(_params(**synthetic), target)
    return target


def _file_bytes(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _raw_text(folder: Path, name: str) -> str:
    plain = folder / f"{name}.jsonl"
    if plain.exists():
        return plain.read_bytes().decode("utf-8")
    return gzip.decompress((folder / f"{name}.jsonl.gz").read_bytes()).decode("utf-8")


def _rows(folder: Path, name: str) -> list[dict]:
    text = _raw_text(folder, name).lstrip("\ufeff")
    out = []
    for line in text.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


@pytest.fixture(scope="module")
def clean_dump(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("clean"), "dump", dirt="none")


@pytest.fixture(scope="module")
def standard_dump(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("standard"), "dump", dirt="standard", users=800)


@pytest.fixture(scope="module")
def heavy_dump(tmp_path_factory) -> Path:
    return _generate(tmp_path_factory.mktemp("heavy"), "dump", dirt="heavy", users=800)


@pytest.fixture(scope="module")
def world():
    return build_world(SMALL)


# --- determinism ---------------------------------------------------------------


@pytest.mark.parametrize("dirt", ["none", "heavy"])
def test_same_params_give_identical_bytes(tmp_path: Path, dirt: str) -> None:
    a = _file_bytes(_generate(tmp_path, "a", dirt=dirt))
    b = _file_bytes(_generate(tmp_path, "b", dirt=dirt))
    assert a.keys() == b.keys()
    for name in a:
        assert a[name] == b[name], name


def test_another_seed_gives_another_dump(tmp_path: Path, clean_dump: Path) -> None:
    other = _generate(tmp_path, "other", dirt="none", seed=4)
    assert (other / "sessions.jsonl").read_bytes() != (clean_dump / "sessions.jsonl").read_bytes()
    assert (other / "tracks.jsonl").read_bytes() != (clean_dump / "tracks.jsonl").read_bytes()


def test_generate_replaces_the_folder_atomically(tmp_path: Path) -> None:
    target = _generate(tmp_path, "dump", dirt="none")
    (target / "stale.jsonl").write_text("{}\n")
    generate_dump(_params(dirt="standard"), target)
    assert sorted(p.name for p in target.iterdir()) == sorted(f"{f}.jsonl" for f in FILES)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump"]  # no temp folders left


# --- the clean format (DESIGN §3) ---------------------------------------------------


def test_clean_dump_has_exactly_the_design_keys_and_types(clean_dump: Path) -> None:
    assert sorted(p.name for p in clean_dump.iterdir()) == sorted(f"{f}.jsonl" for f in FILES)
    artists = _rows(clean_dump, "artists")
    for a in artists:
        assert list(a) == ["id", "name", "genres"]
        assert isinstance(a["id"], str) and isinstance(a["name"], str)
        assert 1 <= len(a["genres"]) <= 3 and all(isinstance(g, str) for g in a["genres"])
    artist_ids = {a["id"] for a in artists}
    tracks = _rows(clean_dump, "tracks")
    for t in tracks:
        assert list(t) == [
            "id",
            "name",
            "popularity",
            "duration_ms",
            "explicit",
            "id_artist",
            "release_date",
            *AUDIO,
        ]
        assert isinstance(t["id"], str) and t["id_artist"] in artist_ids
        assert isinstance(t["popularity"], int) and 0 <= t["popularity"] <= 100
        assert isinstance(t["duration_ms"], int) and 60_000 <= t["duration_ms"] <= 720_000
        assert t["explicit"] in (0, 1)
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", t["release_date"])
        assert isinstance(t["key"], int) and 0 <= t["key"] <= 11
        for col in AUDIO:
            if col != "key":
                assert isinstance(t[col], float), col
        for col in (
            "danceability",
            "energy",
            "speechiness",
            "acousticness",
            "instrumentalness",
            "liveness",
            "valence",
        ):
            assert 0.0 <= t[col] <= 1.0
        assert -40 < t["loudness"] < 0 and 50 < t["tempo"] < 220
    track_ids = {t["id"] for t in tracks}
    users = _rows(clean_dump, "users")
    for u in users:
        assert list(u) == ["user_id", "name", "city", "street", "favourite_genres", "premium_user"]
        assert isinstance(u["user_id"], str) and isinstance(u["premium_user"], bool)
        assert 1 <= len(u["favourite_genres"]) <= 3
    user_ids = {u["user_id"] for u in users}
    sessions = _rows(clean_dump, "sessions")
    for s in sessions:
        assert list(s) == ["session_id", "timestamp", "user_id", "track_id", "event_type"]
        assert isinstance(s["session_id"], str) and s["user_id"] in user_ids
        assert s["event_type"] in ("play", "skip", "like", "advertisment")
        if s["event_type"] == "advertisment":
            assert s["track_id"] is None
        else:
            assert s["track_id"] in track_ids
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}", s["timestamp"])
    storage = _rows(clean_dump, "track_storage")
    assert [s["track_id"] for s in storage] == [t["id"] for t in tracks]
    for s in storage:
        assert list(s) == ["track_id", "storage_class", "daily_cost"]
        assert s["storage_class"] in ("slow", "medium", "fast")
        assert isinstance(s["daily_cost"], float)


def test_sessions_are_week_by_week_grouped_by_user_and_session_not_sorted_by_time(
    clean_dump: Path,
) -> None:
    s = pd.DataFrame(_rows(clean_dump, "sessions"))
    ts = pd.to_datetime(s["timestamp"])
    week = (ts - pd.Timestamp(SMALL.start_date)) // pd.Timedelta(weeks=1)
    assert week.is_monotonic_increasing  # an export appended week by week
    # each session is one contiguous block, each user too inside a week
    user_week = s["user_id"] + "/" + week.astype(str)
    for key, col in (("session_id", s["session_id"]), ("user_id", user_week)):
        blocks = (col != col.shift()).sum()
        assert blocks == col.nunique(), key
    assert not ts.is_monotonic_increasing
    assert all(g.is_monotonic_increasing for _, g in ts.groupby(s["session_id"]))


def test_releases_span_the_window_and_before(clean_dump: Path, world) -> None:
    dates = pd.to_datetime([t["release_date"] for t in _rows(clean_dump, "tracks")])
    start = world.week_start(0)
    inside = (dates >= start) & (dates < world.week_start(world.n_weeks))
    # new releases at a steady rate (tracks_per_artist x 0.45 / 30 per artist and week),
    # whatever the horizon: 6 x 0.45 / 30 x 40 artists x 8 weeks = 28.8 expected (Poisson)
    assert 28.8 - 3 * 28.8**0.5 < inside.sum() < 28.8 + 3 * 28.8**0.5
    assert (dates[inside].dayofweek == 4).all()  # on Fridays
    assert (dates < start - pd.Timedelta(days=365)).mean() > 0.2


# --- dirt ------------------------------------------------------------------------


def test_standard_dirt_rates_are_near_the_configured(standard_dump: Path) -> None:
    s = _rows(standard_dump, "sessions")
    n = len(s)
    null_user = sum(r["user_id"] is None for r in s) / n
    null_type = sum(r["event_type"] is None for r in s) / n
    assert abs(null_user - STANDARD.null_user_id) < 0.006
    assert abs(null_type - STANDARD.null_event_type) < 0.004
    assert all("track_id" in r for r in s)  # standard writes null, never a missing key
    # tracks: ads are null by nature; among the rest, the configured rate
    with_track = [r for r in s if r["event_type"] in ("play", "skip", "like")]
    null_track = sum(r["track_id"] is None for r in with_track) / len(with_track)
    assert abs(null_track - STANDARD.null_track_id) < 0.005
    no_frac = sum("." not in r["timestamp"] for r in s) / n
    assert abs(no_frac - STANDARD.ts_without_fraction) < 0.02
    lengths = pd.Series([len(t["release_date"]) for t in _rows(standard_dump, "tracks")])
    assert set(lengths) == {4, 7, 10}
    assert 0.05 < (lengths == 7).mean() < 0.2 and 0.08 < (lengths == 4).mean() < 0.4


def test_heavy_dump_has_every_variant_of_issue_5(heavy_dump: Path, world) -> None:
    names = sorted(p.name for p in heavy_dump.iterdir())
    assert "users.jsonl.gz" in names and "track_storage.jsonl.gz" in names
    raw = {f: _raw_text(heavy_dump, f) for f in FILES}
    # file level: BOM, CRLF, blank lines, malformed lines
    assert raw["sessions"].startswith("\ufeff") and raw["artists"].startswith("\ufeff")
    assert "\r\n" in raw["tracks"] and "\r\n" in raw["users"]
    assert "\r\n" not in raw["sessions"]
    assert "\n\n" in raw["sessions"]
    bad = 0
    for line in raw["sessions"].lstrip("\ufeff").splitlines():
        if line.strip():
            try:
                json.loads(line)
            except json.JSONDecodeError:
                bad += 1
    assert bad > 0
    assert any(
        line.strip() and not line.rstrip().endswith("}")
        for line in raw["track_storage"].splitlines()
    )

    s = _rows(heavy_dump, "sessions")
    types = {r.get("event_type") for r in s}
    assert {"play", "PLAY", "skip", "SKIP", "advertisment", "ADVERTISEMENT"} <= types
    assert {"pause", "seek", "share"} & types  # types other editions lack
    # "no value" three ways, sentinel -1 ids, integer user ids
    assert any(r.get("user_id", 0) is None for r in s)
    assert any(r.get("user_id") == "" for r in s)
    assert any("user_id" not in r for r in s)
    assert any(r.get("track_id") == "" for r in s) and any("track_id" not in r for r in s)
    assert any(r.get("user_id") == -1 for r in s) and any(r.get("track_id") == -1 for r in s)
    assert any(isinstance(r.get("user_id"), int) and r["user_id"] > 0 for r in s)
    # null user ids mostly recoverable from the same session
    frame = pd.DataFrame(
        {
            "session_id": [r.get("session_id") for r in s],
            "user_id": [
                r.get("user_id") if isinstance(r.get("user_id"), str) and r.get("user_id") else None
                for r in s
            ],
        }
    )
    known = frame.dropna().groupby("session_id")["user_id"].first()
    missing = frame[frame["user_id"].isna()]
    assert missing["session_id"].isin(known.index).mean() > 0.9
    # ties: a skip and the next play at the same instant, in both orders
    ts = [r.get("timestamp") for r in s]
    et = [r.get("event_type") for r in s]
    tr = [r.get("track_id") for r in s]
    sid = [r.get("session_id") for r in s]
    pairs = [
        (et[i], et[i + 1])
        for i in range(len(s) - 1)
        if ts[i] == ts[i + 1] and sid[i] == sid[i + 1] and tr[i] != tr[i + 1]
    ]
    lower = [(a.lower(), b.lower()) for a, b in pairs if a and b]
    assert ("skip", "play") in lower and ("play", "skip") in lower
    # sessions of a user not in time order
    first = pd.DataFrame({"u": [r.get("user_id") for r in s], "sid": sid, "ts": ts}).dropna()
    first = first[first["u"].map(lambda x: isinstance(x, str) and x != "")]
    starts = first.groupby(["u", "sid"], sort=False)["ts"].min().reset_index()
    out_of_order = starts.groupby("u")["ts"].apply(lambda x: not x.is_monotonic_increasing)
    assert out_of_order.mean() > 0.2
    # partial first and last weeks
    parsed = pd.to_datetime(pd.Series(ts).dropna(), format="ISO8601")
    assert parsed.min() > world.week_start(0) + pd.Timedelta(days=2)
    assert parsed.min().weekday() != 0
    assert parsed.max() < world.week_start(SMALL.weeks - 1) + pd.Timedelta(days=4)

    # tracks: implausible values, mixed precision, missing fields, duplicate songs
    tracks = _rows(heavy_dump, "tracks")
    assert any(t.get("tempo") == 0 for t in tracks)
    assert any(isinstance(t.get("loudness"), float) and t["loudness"] > 0 for t in tracks)
    assert any(
        isinstance(t.get("duration_ms"), int) and t["duration_ms"] >= 3_600_000 for t in tracks
    )
    assert any("release_date" not in t or t["release_date"] in (None, "") for t in tracks)
    song = pd.DataFrame(
        {
            "id": [t["id"] for t in tracks],
            "name": [t["name"] for t in tracks],
            "artist": [t["id_artist"] for t in tracks],
        }
    )
    dup = song[song.duplicated(["name", "artist"], keep=False)]
    assert len(dup) > 0
    played = {r.get("track_id") for r in s}
    groups = dup.groupby(["name", "artist"])["id"].apply(set)
    assert any(len(ids & played) >= 2 for ids in groups)  # sessions reference both ids
    # enum case in storage, null lists, genre case
    storage = _rows(heavy_dump, "track_storage")
    assert {"SLOW", "Slow"} & {r["storage_class"] for r in storage}
    artists = _rows(heavy_dump, "artists")
    assert any(a.get("genres", 0) is None for a in artists)
    assert any("genres" not in a for a in artists)
    users = _rows(heavy_dump, "users")
    assert any(u.get("favourite_genres", 0) is None or "favourite_genres" not in u for u in users)
    all_genres = [g for a in artists for g in (a.get("genres") or [])]
    assert any(g != g.strip().lower() for g in all_genres)


# --- the behaviour model -----------------------------------------------------------


def test_world_is_deterministic_and_defines_the_week_after_the_dump(world) -> None:
    again = build_world(SMALL)
    assert np.array_equal(world.track_ids, again.track_ids)
    assert np.array_equal(world.log_appeal, again.log_appeal)
    assert world.log_appeal.shape[1] == SMALL.weeks + 1
    assert world.genre_momentum.shape[1] == SMALL.weeks + 1
    released = world.release_week < SMALL.weeks
    assert np.isfinite(world.log_appeal[released, SMALL.weeks]).all()


def test_weeks_are_iso_weeks_from_the_start(world) -> None:
    assert world.week_start(0) == pd.Timestamp(SMALL.start_date)
    assert world.week_start(3) == pd.Timestamp(SMALL.start_date) + pd.Timedelta(weeks=3)
    assert world.week_index("2024-01-07 23:59:59") == 0
    assert world.week_index("2024-01-08 00:00:00") == 1
    assert world.week_index(world.week_start(SMALL.weeks)) == SMALL.weeks


def test_start_date_must_be_a_monday() -> None:
    with pytest.raises(ParamError, match="Monday"):
        build_world(dataclasses.replace(SMALL, start_date="2024-01-03"))
    with pytest.raises(ParamError, match="genres"):
        params_from_dict({"data": {"synthetic": {"genres": 2}}})


def test_skips_fall_between_their_play_and_the_next_play(world) -> None:
    """Full-play semantics (DESIGN §4) hold in the clean history."""
    h = simulate_history(world, progress=False)
    h = h[h["event_type"] != "advertisment"].reset_index(drop=True)
    same = h["session_id"].eq(h["session_id"].shift())
    # every skip and like refers to the track of the play before it
    last_play_track = h["track_id"].where(h["event_type"] == "play").ffill()
    last_play_ts = h["timestamp"].where(h["event_type"] == "play").ffill()
    reacts = h["event_type"].isin(["skip", "like"])
    assert same[reacts].all()
    assert (h.loc[reacts, "track_id"] == last_play_track[reacts]).all()
    assert (h.loc[reacts, "timestamp"] > last_play_ts[reacts]).all()
    # ... and happens strictly before the next play of the session
    next_play_ts = h["timestamp"].where(h["event_type"] == "play").bfill()
    next_same = h["session_id"].eq(h["session_id"].where(h["event_type"] == "play").bfill())
    inside = reacts & next_same
    assert (h.loc[inside, "timestamp"] < next_play_ts[inside]).all()
    # a play has at most one reaction, never both a skip and a like
    per_play = reacts.groupby((h["event_type"] == "play").cumsum()).sum()
    assert per_play.max() <= 1
    rates = h["event_type"].value_counts(normalize=True)
    assert 0.15 < rates["skip"] / rates["play"] < 0.5
    assert 0.15 < rates["like"] / rates["play"] < 0.35  # calibrated: 0.25-0.28 in real dumps


def test_history_matches_simulate_week_without_playlists(world) -> None:
    ev = history_events(world, progress=False)
    week = world.week_start(2).value // 1000
    mask = (ev.ts >= week) & (ev.ts < week + 7 * 86_400 * 10**6) & (ev.etype != 3)
    replay = simulate_week(world, 2, None, seed=SMALL.seed)
    order = np.argsort(ev.user[mask], kind="stable")
    assert np.array_equal(replay["timestamp"].to_numpy().astype("int64"), ev.ts[mask][order])
    assert (replay["source"] == "organic").all()


def _play_through(events: pd.DataFrame) -> float:
    e = events[events["source"] == "playlist"]
    nxt = e.shift(-1)
    play = e["event_type"] == "play"
    skipped = (
        (nxt["event_type"] == "skip")
        & (nxt["session_id"] == e["session_id"])
        & (nxt["track_id"] == e["track_id"])
    )
    full = play & ~skipped
    per_user = pd.DataFrame({"u": e["user_id"], "p": play, "f": full}).groupby("u").sum()
    per_user = per_user[per_user["p"] > 0]
    return float((per_user["f"] / per_user["p"]).mean())


def test_more_appealing_playlists_are_played_through_more(world) -> None:
    """The A/B lever: the same users, playlists of tracks more or less appealing that week."""
    week = SMALL.weeks
    appeal = world.log_appeal[:, week]
    good, bad = [], []
    for g in range(world.n_genres):
        members = np.nonzero((world.track_genres == g).any(axis=1) & np.isfinite(appeal))[0]
        ranked = members[np.argsort(-appeal[members], kind="stable")]
        good.append(world.track_ids[ranked[:10]].tolist())
        bad.append(world.track_ids[ranked[len(ranked) // 2 : len(ranked) // 2 + 10]].tolist())
    users = world.user_ids.tolist()
    ptr_good = _play_through(simulate_week(world, week, {u: good for u in users}, seed=1))
    ptr_bad = _play_through(simulate_week(world, week, {u: bad for u in users}, seed=1))
    assert ptr_good > ptr_bad + 0.05


def test_served_playlists_are_played_in_order_by_matching_users(world) -> None:
    week = SMALL.weeks
    playlist = world.track_ids[np.isfinite(world.log_appeal[:, week])][:15].tolist()
    users = world.user_ids[:100].tolist()
    ev = simulate_week(world, week, {u: [playlist] for u in users}, seed=5)
    assert list(ev.columns) == [
        "user_id",
        "session_id",
        "timestamp",
        "track_id",
        "event_type",
        "source",
    ]
    assert set(ev["event_type"]) <= {"play", "skip", "like"}
    pl = ev[ev["source"] == "playlist"]
    assert len(pl) > 0
    assert set(pl["user_id"]) <= set(users)
    assert set(pl["track_id"]) <= set(playlist)
    position = {t: i for i, t in enumerate(playlist)}
    plays = pl[pl["event_type"] == "play"]
    steps = plays.groupby("session_id")["track_id"].apply(
        lambda s: np.diff([position[t] for t in s]).tolist()
    )
    assert all(all(x == 1 for x in d) for d in steps)
    # playlist sessions are a share of the listening, not all of it
    share = pl["session_id"].nunique() / ev.loc[ev["user_id"].isin(users), "session_id"].nunique()
    assert 0.05 < share < 0.6
    assert ev["timestamp"].min() >= world.week_start(week)
    assert ev["timestamp"].max() < world.week_start(week + 1)


def _shelf(world, week: int, per_genre: int = 12) -> list[list[str]]:
    """The most appealing tracks of the three biggest genres: a stand-in for a model's shelf."""
    appeal = world.log_appeal[:, week]
    shelf = []
    for g in np.argsort(-world.genre_size, kind="stable")[:3]:
        members = np.nonzero((world.track_genres == g).any(axis=1) & np.isfinite(appeal))[0]
        ranked = members[np.argsort(-appeal[members], kind="stable")]
        shelf.append(world.track_ids[ranked[:per_genre]].tolist())
    return shelf


def test_the_shelf_is_opened_by_most_users_on_top_of_their_usual_listening(world) -> None:
    """Every user offered the shelf may open it, by taste; organic listening is unchanged."""
    from pozytywka.synthetic.simulate import PLAYLIST_STOP_SKIPS

    week = SMALL.weeks
    shelf = _shelf(world, week)
    users = world.user_ids.tolist()
    served = {u: shelf for u in users[: len(users) // 2]}
    ev = simulate_week(world, week, served, seed=4)
    plain = simulate_week(world, week, None, seed=4)
    # additional sessions: the organic events are exactly those of the week without a shelf
    organic = ev[ev["source"] == "organic"].reset_index(drop=True)
    pd.testing.assert_frame_equal(organic, plain.reset_index(drop=True))
    pl = ev[ev["source"] == "playlist"]
    assert set(pl["user_id"]) <= set(served)
    played = pl.loc[pl["event_type"] == "play", "user_id"].unique()
    assert len(played) / len(served) > 0.6  # most users offered the shelf play from it
    # ...including users none of whose favourite genres is on the shelf
    shelf_genres = {
        int(np.bincount(world.track_genres[world.track_index(p)][:, 0]).argmax()) for p in shelf
    }
    off = [u for u in served if not set(world.user_fav[world.user_index([u])[0]]) & shelf_genres]
    assert off and len(set(played) & set(off)) / len(off) > 0.3
    # mostly from the top; a session ends after PLAYLIST_STOP_SKIPS skips in a row, not before
    first = pl[pl["event_type"] == "play"].groupby("session_id")["track_id"].first()
    tops = {p[0] for p in shelf}
    assert first.isin(tops).mean() > 0.6
    k = PLAYLIST_STOP_SKIPS
    for _, sess in pl[pl["event_type"].isin(["play", "skip"])].groupby("session_id"):
        kinds = sess["event_type"].tolist()
        skipped = [kinds[i + 1 : i + 2] == ["skip"] for i, e in enumerate(kinds) if e == "play"]
        runs = "".join("s" if x else "f" for x in skipped)
        assert runs.find("s" * k) in (-1, len(runs) - k), runs


def test_a_week_with_no_session_has_no_events_and_no_error():
    """A small world at a low activity can have a silent week (the simulator used to crash)."""
    from pozytywka.synthetic.simulate import history_rng, week_events
    from pozytywka.synthetic.world import build_world

    world = build_world(
        SyntheticParams(users=10, artists=5, genres=3, weeks=6, sessions_per_user_week=0.01)
    )
    rates = [0.01 * world.activity[world.active(w)].sum() for w in range(6)]
    assert max(rates) < 0.2  # so most weeks draw no session at all
    sizes = [len(week_events(world, w, history_rng(world, w))) for w in range(6)]
    assert 0 in sizes


def test_a_listener_plays_the_shelf_the_same_whoever_else_is_simulated(world) -> None:
    """Issue 23, "one experiment, one answer": each listener's shelf week comes from a
    stream of their own, so simulating more listeners (the live run's sign-ups), others
    with other playlists, or the listeners in another order changes nobody's events."""
    week = SMALL.weeks
    shelf = _shelf(world, week)
    users = world.user_ids.tolist()
    few = {u: shelf for u in users[: len(users) // 3]}
    many = {u: shelf for u in reversed(users)}  # all, in the other order
    many.update({u: shelf[:1] for u in users[len(users) // 2 :]})  # others served one playlist
    cols = ["user_id", "timestamp", "track_id", "event_type"]

    def shelf_events(served):
        ev = simulate_week(world, week, served, seed=11)
        ev = ev[ev["source"].eq("playlist") & ev["user_id"].isin(list(few))]
        return ev[cols].reset_index(drop=True)

    alone, crowd = shelf_events(few), shelf_events(many)
    assert len(alone) > 100
    pd.testing.assert_frame_equal(alone, crowd)
    # ...and another experiment seed is another draw
    other = simulate_week(world, week, few, seed=12)
    other = other[other["source"].eq("playlist")][cols].reset_index(drop=True)
    assert not other.equals(alone)


def test_listener_stream_is_pinned() -> None:
    """The listener's key is SHA-256 of the id (not ``hash()``): a known answer."""
    from pozytywka.synthetic.simulate import listener_key, listener_rng

    # sha256(b"user-42") starts 6d894aa3ee802549: its first 8 bytes, big-endian
    assert listener_key("user-42") == 0x6D894AA3EE802549
    a = listener_rng(7, 3, "user-42").random(3)
    b = listener_rng(7, 3, "user-42").random(3)
    c = listener_rng(7, 4, "user-42").random(3)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
