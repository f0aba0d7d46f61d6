"""A small stand-in for the synthetic world's ``simulate_week`` (same signature).

Each user has organic listening and, when served playlists, plays some of the
served tracks; a playlist play is played through with the track's ``quality``
(so an arm's expected play-through rate is the mean quality of what it serves),
skipped otherwise, and liked with a small probability. Vectorised, so A/A and
power tests can run it hundreds of times.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class FakeWorld:
    users: list[str]
    quality: dict[str, float]
    start: pd.Timestamp = field(default_factory=lambda: pd.Timestamp("2024-07-29"))
    organic_rate: float = 3.0
    playlist_rate: float = 6.0

    def week_start(self, week: int) -> pd.Timestamp:
        return self.start + pd.Timedelta(days=7 * (week - 30))

    def week_index(self, timestamp) -> int:
        return 30 + (pd.Timestamp(timestamp) - self.start) // pd.Timedelta(days=7)


def fake_simulate_week(world: FakeWorld, week, served, seed) -> pd.DataFrame:
    rng = np.random.default_rng([seed, week])
    users = np.array(world.users, dtype=object)
    tracks = np.array(sorted(world.quality), dtype=object)
    quality = np.array([world.quality[t] for t in tracks])
    index = {t: i for i, t in enumerate(tracks)}
    parts = []
    # organic: random tracks, played through with probability 0.6
    n_org = rng.poisson(world.organic_rate, len(users))
    u = np.repeat(users, n_org)
    t = rng.integers(0, len(tracks), len(u))
    parts.append((u, t, rng.random(len(u)) < 0.6, np.zeros(len(u), bool), "organic"))
    # playlist: tracks drawn from the user's served lists
    pu, pt = [], []
    for user, n in zip(users, rng.poisson(world.playlist_rate, len(users)), strict=True):
        flat = [index[x] for p in served.get(user, []) for x in p]
        if flat and n:
            pu.append(np.repeat(user, n))
            pt.append(rng.choice(np.array(flat), n))
    if pu:
        u, t = np.concatenate(pu), np.concatenate(pt)
        full = rng.random(len(u)) < quality[t]
        liked = rng.random(len(u)) < 0.1 * quality[t]
        parts.append((u, t, full, liked, "playlist"))
    frames = []
    for u, t, full, liked, source in parts:
        n = len(u)
        ts = world.week_start(week) + pd.to_timedelta(rng.integers(0, 7 * 86400 - 10, n), "s")
        base = pd.DataFrame(
            {
                "user_id": u,
                "session_id": [f"{x}-{source}" for x in u],
                "timestamp": ts,
                "track_id": tracks[t],
                "source": source,
            }
        )
        frames.append(base.assign(event_type="play"))
        frames.append(
            base[~full].assign(
                event_type="skip", timestamp=base["timestamp"][~full] + pd.Timedelta("1s")
            )
        )
        frames.append(
            base[liked].assign(
                event_type="like", timestamp=base["timestamp"][liked] + pd.Timedelta("2s")
            )
        )
    ev = pd.concat(frames, ignore_index=True)
    cols = ["user_id", "session_id", "timestamp", "track_id", "event_type", "source"]
    return ev.sort_values(["session_id", "timestamp"], kind="mergesort")[cols].reset_index(
        drop=True
    )


def replay_world():
    """24 rock tracks, one artist each; the baseline prefers t00.., CatBoost ..t23."""
    tracks, tg, bt = [], [], []
    for i in range(24):
        tid = f"t{i:02d}"
        tracks.append(
            {
                "track_id": tid,
                "name": f"s{i}",
                "artist_id": f"a{i}",
                "artist": f"A{i}",
                "energy": i / 24,
            }
        )
        tg.append({"track_id": tid, "genre": "rock"})
        # baseline prefers t00..t11, catboost t12..t23
        bt.append(
            {
                "week_start": pd.Timestamp("2024-07-22"),
                "target_week": pd.Timestamp("2024-07-29"),
                "track_id": tid,
                "baseline_score": float(24 - i),
                "catboost_score": float(i),
                "actual": 1.0,
            }
        )
    older = dict(
        bt[0], week_start=pd.Timestamp("2024-07-15"), target_week=pd.Timestamp("2024-07-22")
    )
    return pd.DataFrame(tracks), pd.DataFrame(tg), pd.DataFrame([older, *bt])
