"""The catalogue API on a hand-made catalogue: five tracks, two artists, two genres.

=====  ===========  ======  ====  ======  ========  ========  ===========  ==========
track  name         artist  pop.  year    duration  explicit  genres       last week
=====  ===========  ======  ====  ======  ========  ========  ===========  ==========
t1     Love Song    Ava     50    2020    200000    0         pop, rock    3
t2     Lovely Day   Bob     70    2020    300000    1         pop          9
t3     Hate 100%    Ava     30    2021    250000    0         pop, rock    (none)
t4     Blue         Ava     80    2020    310000    0         pop, rock    1
t5     Red          Bob     60    2020    100000    0         pop          (none)
=====  ===========  ======  ====  ======  ========  ========  ===========  ==========

Ava = "Ava", Bob = "Bob Lovejoy". Last week is 2024-07-22; the week before
(2024-07-15) gives t5 the most listeners, which must not count. The answers in
the tests are worked out by hand from this table.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from pozytywka import paths
from pozytywka.serve.app import create_app
from pozytywka.serve.process import ServiceProcess
from pozytywka.serve.settings import Settings
from serve_support import write_tiny_root

TRACKS = [
    # id, name, artist, popularity, release date, duration, explicit
    ("t1", "Love Song", "ar1", 50.0, "2020-01-01", 200000.0, 0),
    ("t2", "Lovely Day", "ar2", 70.0, "2020-05-01", 300000.0, 1),
    ("t3", "Hate 100%", "ar1", 30.0, "2021-01-01", 250000.0, 0),
    ("t4", "Blue", "ar1", 80.0, "2020-07-01", 310000.0, 0),
    ("t5", "Red", "ar2", 60.0, "2020-02-01", 100000.0, 0),
]
GENRES = {"t1": ["pop", "rock"], "t2": ["pop"], "t3": ["pop", "rock"], "t4": ["pop", "rock"]}
GENRES["t5"] = ["pop"]
WEEKLY = [("2024-07-15", "t5", 40), ("2024-07-15", "t1", 5)]
WEEKLY += [("2024-07-22", "t1", 3), ("2024-07-22", "t2", 9), ("2024-07-22", "t4", 1)]


def write_tiny_catalogue(root: Path) -> Path:
    """The four Parquet tables the catalogue reads, with the interim tables' dtypes."""
    (root / paths.INTERIM).mkdir(parents=True, exist_ok=True)
    (root / paths.PROCESSED).mkdir(parents=True, exist_ok=True)
    tracks = pd.DataFrame(
        TRACKS,
        columns=["track_id", "name", "artist_id", "popularity", "release_date", "duration_ms"]
        + ["explicit"],
    )
    tracks["release_date"] = pd.to_datetime(tracks["release_date"])
    tracks["explicit"] = tracks["explicit"].astype("int8")
    tracks.to_parquet(root / paths.INTERIM_TRACKS, index=False)
    artists = pd.DataFrame(
        {"artist_id": ["ar1", "ar2"], "name": ["Ava", "Bob Lovejoy"]}
        | {"genres": [["pop", "rock"], ["pop"]]}
    )
    artists.to_parquet(root / paths.INTERIM_ARTISTS, index=False)
    genres = [(t, g) for t, gs in GENRES.items() for g in gs]
    pd.DataFrame(genres, columns=["track_id", "genre"]).to_parquet(
        root / paths.INTERIM_TRACK_GENRES, index=False
    )
    weekly = pd.DataFrame(WEEKLY, columns=["week_start", "track_id", "popularity"])
    weekly["week_start"] = pd.to_datetime(weekly["week_start"])
    weekly.to_parquet(root / paths.WEEKLY_POPULARITY, index=False)
    return root


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return write_tiny_catalogue(write_tiny_root(tmp_path_factory.mktemp("catalogue")))


@pytest.fixture(scope="module")
def client(root, tmp_path_factory):
    store = tmp_path_factory.mktemp("store") / "log.sqlite"
    app = create_app(Settings(store_url=f"sqlite:///{store}", root=root))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def ids(answer: dict) -> list[str]:
    return [item["track_id"] for item in answer["items"]]


def test_info_lists_genres_years_and_last_week(client):
    info = client.get("/v1/catalogue").json()
    assert info == {
        "genres": ["pop", "rock"],
        "first_year": 2020,
        "last_year": 2021,
        "last_week": "2024-07-22",
    }


def test_search_tracks_is_a_case_insensitive_substring_most_popular_first(client):
    ans = client.get("/v1/catalogue/tracks", params={"q": "LOVE"}).json()
    assert ans["total"] == 2 and ids(ans) == ["t2", "t1"]  # 70 before 50
    past = client.get("/v1/catalogue/tracks", params={"q": "love", "offset": 5}).json()
    assert past["total"] == 2 and ids(past) == []  # the matches still counted past the end
    assert ans["items"][0] == {
        "track_id": "t2",
        "name": "Lovely Day",
        "artist": "Bob Lovejoy",
        "year": 2020,
        "popularity": 70.0,
        "duration_ms": 300000,
        "explicit": 1,
    }
    # SQL wildcards and quotes are plain characters (parameters, not SQL text)
    assert ids(client.get("/v1/catalogue/tracks", params={"q": "%"}).json()) == ["t3"]
    assert client.get("/v1/catalogue/tracks", params={"q": "_"}).json()["total"] == 0
    assert client.get("/v1/catalogue/tracks", params={"q": "'; DROP"}).json()["total"] == 0


def test_search_artists_counts_their_tracks(client):
    ans = client.get("/v1/catalogue/artists", params={"q": "love"}).json()
    assert ans["items"] == [
        {"artist_id": "ar2", "name": "Bob Lovejoy", "genres": ["pop"], "tracks": 2}
    ]
    both = client.get("/v1/catalogue/artists", params={"q": "o"}).json()  # "Bob Lovejoy" only
    assert [a["name"] for a in both["items"]] == ["Bob Lovejoy"]
    a = client.get("/v1/catalogue/artists", params={"q": "a"}).json()
    assert [(x["name"], x["tracks"]) for x in a["items"]] == [("Ava", 3)]


def test_genre_top_tracks_use_last_week_only_and_paginate(client):
    ans = client.get("/v1/catalogue/genres/top-tracks", params={"genre": "pop"}).json()
    assert ids(ans) == ["t2", "t1", "t4"]  # 9, 3, 1 listeners; t5's 40 were the week before
    assert [t["week_popularity"] for t in ans["items"]] == [9, 3, 1]
    assert {t["week_start"] for t in ans["items"]} == {"2024-07-22"}
    page = client.get(
        "/v1/catalogue/genres/top-tracks", params={"genre": "Pop ", "limit": 1, "offset": 1}
    ).json()
    assert (page["total"], page["limit"], page["offset"], ids(page)) == (3, 1, 1, ["t1"])
    rock = client.get("/v1/catalogue/genres/top-tracks", params={"genre": "rock"}).json()
    assert ids(rock) == ["t1", "t4"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"year": 2020}, "t4"),  # 310000 ms
        ({"year": 2020, "explicit": "true"}, "t2"),  # the only explicit one
        ({"year": 2020, "explicit": "false", "genre": "pop"}, "t4"),
        ({"year": 2021}, "t3"),
        ({"year": 2020, "genre": "rock", "explicit": "true"}, None),
    ],
)
def test_longest_track_of_a_year_with_filters(client, params, expected):
    ans = client.get("/v1/catalogue/longest-track", params=params)
    assert ans.status_code == 200
    assert (ans.json() or {}).get("track_id") == expected


def test_tracks_per_genre_above_a_popularity(client):
    ans = client.get("/v1/catalogue/genres/counts", params={"year": 2020, "min_popularity": 55})
    # 2020 tracks above 55: t2 (70), t4 (80), t5 (60); rock holds only t4
    assert ans.json()["items"] == [{"genre": "pop", "tracks": 3}, {"genre": "rock", "tracks": 1}]
    strict = client.get("/v1/catalogue/genres/counts", params={"year": 2020, "min_popularity": 60})
    assert strict.json()["items"] == [{"genre": "pop", "tracks": 2}, {"genre": "rock", "tracks": 1}]


def test_artist_with_most_tracks_in_a_genre_and_year(client):
    # pop 2020: Ava (t1, t4) and Bob (t2, t5) tie at 2; the tie goes by name
    ans = client.get("/v1/catalogue/top-artist", params={"genre": "pop", "year": 2020}).json()
    assert ans == {"artist_id": "ar1", "name": "Ava", "tracks": 2}
    one = client.get("/v1/catalogue/top-artist", params={"genre": "pop", "year": 2021}).json()
    assert one == {"artist_id": "ar1", "name": "Ava", "tracks": 1}


@pytest.mark.parametrize(
    ("path", "params", "reason"),
    [
        ("/v1/catalogue/longest-track", {"year": 2019}, "outside the catalogue's release years"),
        ("/v1/catalogue/genres/counts", {"year": 2022}, "2020-2021"),
        ("/v1/catalogue/top-artist", {"genre": "jazz", "year": 2020}, "unknown genre 'jazz'"),
        ("/v1/catalogue/genres/top-tracks", {"genre": "jazz"}, "unknown genre"),
        ("/v1/catalogue/tracks", {"q": "a", "limit": 101}, "limit: Input should be less"),
        ("/v1/catalogue/tracks", {"q": "a", "offset": -1}, "offset: Input should be greater"),
        ("/v1/catalogue/tracks", {"q": ""}, "q: String should have at least 1 character"),
        ("/v1/catalogue/genres/counts", {"year": 2020, "min_popularity": 101}, "min_popularity"),
    ],
)
def test_bad_parameters_are_422_with_the_reason(client, path, params, reason):
    ans = client.get(path, params=params)
    assert ans.status_code == 422
    assert any(reason in line for line in ans.json()["detail"]), ans.json()


def test_without_catalogue_files_the_routes_answer_503(tmp_path):
    root = write_tiny_root(tmp_path / "root")
    settings = Settings(store_url=f"sqlite:///{tmp_path / 'log.sqlite'}", root=root)
    with TestClient(create_app(settings)) as c:
        ans = c.get("/v1/catalogue/tracks", params={"q": "a"})
        assert ans.status_code == 503 and "run dvc repro" in ans.json()["detail"][0]
        assert c.get("/healthz").status_code == 200  # the rest of the service runs


def test_over_real_http(root, tmp_path):
    env = {"POZYTYWKA_STORE": f"sqlite:///{tmp_path / 'log.sqlite'}"}
    with ServiceProcess(root, env) as svc:
        ans = httpx.get(
            svc.url + "/v1/catalogue/top-artist", params={"genre": "rock", "year": 2020}
        )
        assert ans.json() == {"artist_id": "ar1", "name": "Ava", "tracks": 2}
        bad = httpx.get(svc.url + "/v1/catalogue/longest-track", params={"year": 1999})
        assert bad.status_code == 422
        assert bad.json() == {
            "detail": ["year 1999 is outside the catalogue's release years 2020-2021"]
        }


@settings(max_examples=40)
@given(
    q=st.text(max_size=120),
    genre=st.text(max_size=20) | st.sampled_from(["pop", "rock", " POP"]),
    year=st.integers(-5, 10_000) | st.text(max_size=6),
    limit=st.integers(-2, 200),
)
def test_no_query_makes_a_5xx(client, q, genre, year, limit):
    """Any text, year or page size: a 200, or a 422 with one line per reason."""
    for path, params in [
        ("/v1/catalogue/tracks", {"q": q, "limit": limit}),
        ("/v1/catalogue/artists", {"q": q, "offset": limit}),
        ("/v1/catalogue/genres/top-tracks", {"genre": genre, "limit": limit}),
        ("/v1/catalogue/longest-track", {"year": year, "genre": genre}),
        ("/v1/catalogue/genres/counts", {"year": year, "min_popularity": limit}),
        ("/v1/catalogue/top-artist", {"year": year, "genre": genre}),
    ]:
        r = client.get(path, params=params)
        assert r.status_code in (200, 422), (path, params, r.text)
        if r.status_code == 422:
            assert all("\n" not in line for line in r.json()["detail"])
