"""Small interim tables with trends (tracks rise after release and fade), for model tests.

Not the synthetic generator: just enough structure for features, models and the
backtest to have something to learn, at a size that keeps tests fast.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

START = pd.Timestamp("2024-01-01")  # a Monday


def fake_interim(
    weeks: int = 12,
    n_tracks: int = 40,
    n_users: int = 60,
    events_per_user: int = 8,
    seed: int = 0,
) -> dict[str, pd.DataFrame]:
    """``tracks``, ``track_genres`` and ``sessions`` in the interim contract."""
    rng = np.random.default_rng(seed)
    genres = np.array(["pop", "rock", "jazz"])
    track_ids = np.array([f"t{i:03d}" for i in range(n_tracks)])
    artist_ids = np.array([f"a{i % 8}" for i in range(n_tracks)])
    release_week = rng.integers(-6, weeks, n_tracks)
    appeal = rng.gamma(2.0, 1.0, n_tracks)
    tracks = pd.DataFrame(
        {
            "track_id": track_ids,
            "name": [f"song {i}" for i in range(n_tracks)],
            "artist_id": artist_ids,
            "popularity": rng.uniform(0, 100, n_tracks),
            "duration_ms": rng.uniform(1.5e5, 3e5, n_tracks),
            "explicit": pd.array(rng.integers(0, 2, n_tracks), dtype="Int8"),
            "release_date": (START + pd.to_timedelta(release_week * 7, unit="D")).astype(
                "datetime64[us]"
            ),
            "release_precision": "day",
        }
    )
    for col in (
        "danceability",
        "energy",
        "speechiness",
        "acousticness",
        "instrumentalness",
        "liveness",
        "valence",
    ):
        tracks[col] = rng.uniform(0, 1, n_tracks)
    tracks["key"] = rng.integers(0, 12, n_tracks).astype(float)
    tracks["loudness"] = rng.uniform(-20, 0, n_tracks)
    tracks["tempo"] = rng.uniform(60, 180, n_tracks)
    track_genres = pd.DataFrame({"track_id": track_ids, "genre": genres[np.arange(n_tracks) % 3]})
    extra = track_genres.iloc[::4].assign(genre="indie")
    track_genres = (
        pd.concat([track_genres, extra]).sort_values(["track_id", "genre"]).reset_index(drop=True)
    )

    rows = []
    session = 0
    for w in range(weeks):
        age = w - release_week
        weight = np.where(age >= 0, appeal * (age + 1) * np.exp(-age / 3.0), 0.0) + 0.01
        prob = weight / weight.sum()
        for u in range(n_users):
            n = rng.poisson(events_per_user)
            if n == 0:
                continue
            chosen = rng.choice(n_tracks, size=n, p=prob)
            t0 = (
                START
                + pd.Timedelta(days=7 * w)
                + pd.Timedelta(seconds=int(rng.integers(0, 6 * 86400)))
            )
            for j, t in enumerate(chosen):
                ts = t0 + pd.Timedelta(minutes=3 * j)
                rows.append((f"s{session:05d}", ts, f"u{u:03d}", track_ids[t], "play"))
                r = rng.random()
                if r < 0.25:
                    rows.append(
                        (
                            f"s{session:05d}",
                            ts + pd.Timedelta(seconds=30),
                            f"u{u:03d}",
                            track_ids[t],
                            "skip",
                        )
                    )
                elif r < 0.35:
                    rows.append(
                        (
                            f"s{session:05d}",
                            ts + pd.Timedelta(seconds=60),
                            f"u{u:03d}",
                            track_ids[t],
                            "like",
                        )
                    )
            session += 1
    # the log runs from Monday 00:00 to the last Sunday evening: every week complete
    rows.append(("s_start", START, "u000", None, "advertisement"))
    rows.append(
        ("s_end", START + pd.Timedelta(days=7 * weeks - 1, hours=23), "u000", None, "advertisement")
    )
    sessions = pd.DataFrame(
        rows, columns=["session_id", "timestamp", "user_id", "track_id", "event_type"]
    )
    sessions["timestamp"] = sessions["timestamp"].astype("datetime64[us]")
    sessions = sessions.sort_values(["session_id", "timestamp"], kind="stable").reset_index(
        drop=True
    )
    sessions["row_number"] = np.arange(len(sessions), dtype="int64")
    return {"tracks": tracks, "track_genres": track_genres, "sessions": sessions}


def fake_features(weeks: int, seed: int, n_tracks: int = 30, n_users: int = 30) -> pd.DataFrame:
    """The features table built from :func:`fake_interim`, as the `features` stage does."""
    from pozytywka.config import FeaturesParams
    from pozytywka.playlists.features import build_features
    from pozytywka.plays import complete_week_starts, weekly_popularity

    data = fake_interim(weeks=weeks, n_tracks=n_tracks, n_users=n_users, seed=seed)
    sessions = data["sessions"]
    return build_features(
        weekly_popularity(sessions),
        data["tracks"],
        data["track_genres"],
        complete_week_starts(sessions),
        FeaturesParams(),
    )
