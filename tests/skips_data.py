"""A hand-made world for the skips tests: two weeks, two listeners, three tracks.

Every expected value in the tests is computed by hand from these events
(see the comments); ``events()`` is the interim ``sessions`` table.
"""

from __future__ import annotations

import pandas as pd

W0 = pd.Timestamp("2024-01-01")  # a Monday
W1 = pd.Timestamp("2024-01-08")

# (session, time, user, track, event)
EVENTS = [
    # week 0, session s1 (u1): t1 skipped after 60 s, t2 played through, t1 again (full, liked)
    ("s1", "2024-01-01 10:00:00", "u1", "t1", "play"),
    ("s1", "2024-01-01 10:01:00", "u1", "t1", "skip"),
    ("s1", "2024-01-01 10:01:02", "u1", "t2", "play"),
    ("s1", "2024-01-01 10:04:22", "u1", "t1", "play"),
    ("s1", "2024-01-01 10:05:00", "u1", "t1", "like"),
    # week 0, session s2 (u2): t2 skipped after 30 s
    ("s2", "2024-01-01 12:00:00", "u2", "t2", "play"),
    ("s2", "2024-01-01 12:00:30", "u2", "t2", "skip"),
    # week 1, session s3 (u1): an ad, t2 skipped after 30 s, t1 (the session's last play)
    ("s3", "2024-01-08 09:00:00", "u1", None, "advertisement"),
    ("s3", "2024-01-08 09:00:20", "u1", "t2", "play"),
    ("s3", "2024-01-08 09:00:50", "u1", "t2", "skip"),
    ("s3", "2024-01-08 09:00:51", "u1", "t1", "play"),
]


def events() -> pd.DataFrame:
    frame = pd.DataFrame(
        EVENTS, columns=["session_id", "timestamp", "user_id", "track_id", "event_type"]
    )
    frame["timestamp"] = pd.to_datetime(frame["timestamp"]).astype("datetime64[us]")
    frame["row_number"] = range(len(frame))
    return frame


def tracks() -> pd.DataFrame:
    """t1: every taste dim 0.2 (tempo 88 bpm), 200 s; t2: 0.4 (tempo 116), 100 s; t3: unplayed.

    t1 and t2 are by artist a1, t3 by a2."""
    rows = []
    for tid, level, tempo, dur in (
        ("t1", 0.2, 88.0, 200_000),
        ("t2", 0.4, 116.0, 100_000),
        ("t3", 0.6, 144.0, 50_000),
    ):
        rows.append(
            {
                "track_id": tid,
                "artist_id": "a2" if tid == "t3" else "a1",
                "duration_ms": float(dur),
                "release_date": pd.Timestamp("2023-01-01"),
                "danceability": level,
                "energy": level,
                "key": 1.0,
                "loudness": -5.0,
                "speechiness": level,
                "acousticness": level,
                "instrumentalness": level,
                "liveness": 0.1,
                "valence": level,
                "tempo": tempo,
            }
        )
    return pd.DataFrame(rows)


def track_genres() -> pd.DataFrame:
    return pd.DataFrame({"track_id": ["t1", "t2", "t3"], "genre": ["rock", "pop", "jazz"]})


def users() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "favourite_genres": [["rock"], ["pop"]],
            "premium_user": [True, False],
        }
    )


def storage() -> pd.DataFrame:
    return pd.DataFrame(
        {"track_id": ["t1", "t2"], "storage_class": ["slow", "fast"], "daily_cost": [1.0, 2.0]}
    )


def features(events: pd.DataFrame | None = None, prior: float = 2.0):
    """``build_features`` over ``events`` (default :func:`events`) and this world's catalogue."""
    from pozytywka.skips.features import build_features
    from pozytywka.skips.target import play_targets

    events = events if events is not None else globals()["events"]()
    return build_features(play_targets(events), events, tracks(), track_genres(), users(), prior)
