"""Seeded random interim sessions for the engine tests (no generator, no ingest: fast)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def random_sessions(seed: int = 5, sessions: int = 300, weeks: int = 5) -> pd.DataFrame:
    """Interim-like sessions over ~``weeks`` weeks from Monday 2024-01-01.

    Minute-resolution times (so ties happen, a skip at the next play's instant too);
    each session is one listener's 1-11 events, ads without a track.
    """
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2024-01-01")
    for s in range(sessions):
        t = start + pd.Timedelta(minutes=int(rng.integers(0, weeks * 7 * 24 * 60)))
        user = f"u{rng.integers(0, 40)}"
        for _ in range(int(rng.integers(1, 12))):
            kind = rng.choice(["play", "play", "play", "skip", "like", "advertisement"])
            track = None if kind == "advertisement" else f"t{rng.integers(0, 25)}"
            rows.append((f"s{s}", t, user, track, str(kind)))
            t += pd.Timedelta(minutes=int(rng.integers(0, 3)))  # 0: a tie
    frame = pd.DataFrame(
        rows, columns=["session_id", "timestamp", "user_id", "track_id", "event_type"]
    )
    frame["timestamp"] = frame["timestamp"].astype("datetime64[us]")
    frame = frame.sort_values(["timestamp", "session_id"], kind="stable").reset_index(drop=True)
    frame["row_number"] = np.arange(len(frame), dtype="int64")
    return frame
