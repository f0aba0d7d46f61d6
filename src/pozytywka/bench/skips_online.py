"""Latency of one skip prediction (``OnlineScorer.predict``: ``POST /v1/skips/predict``).

    python -m pozytywka.bench.skips_online [--root .] [--calls 200] [--seed 0]

Loads the published skip artifacts once (``OnlineScorer.load``, timed apart), then
scores ``--calls`` real plays of the last complete week of the skips table (a seeded
sample, each with its session's earlier events from the interim log, as a client
would send them) with arm B (CatBoost), one call at a time, and prints the
median, 95th percentile and mean wall time per call (``time.perf_counter``) and
the distribution of the session lengths sent. A benchmark to run by hand on a
quiet machine, never a test.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths

KINDS = ("play", "skip", "like", "advertisement")  # what a client may send


def requests(root: Path, calls: int, seed: int) -> list[dict]:
    """``calls`` plays of the last complete week with their sessions so far (request bodies)."""
    table = pd.read_parquet(
        root / paths.SKIPS_TABLE, columns=["session_id", "user_id", "track_id", "ts", "week_start"]
    )
    last = table[table["week_start"] == table["week_start"].max()]
    picked = last.sample(n=min(calls, len(last)), random_state=seed)
    sessions = pd.read_parquet(
        root / paths.INTERIM_SESSIONS,
        columns=["session_id", "timestamp", "event_type", "track_id"],
        filters=[("session_id", "in", sorted(set(picked["session_id"])))],
    )
    by_session = {k: g.sort_values("timestamp") for k, g in sessions.groupby("session_id")}
    out = []
    for play in picked.itertuples():
        events = by_session.get(play.session_id, sessions.iloc[:0])
        earlier = events[(events["timestamp"] < play.ts) & events["event_type"].isin(KINDS)]
        session = [
            {"timestamp": e.timestamp, "event_type": e.event_type, "track_id": e.track_id}
            for e in earlier.itertuples()
        ]
        user = play.user_id if isinstance(play.user_id, str) else None
        out.append({"user": user, "track": play.track_id, "session": session, "now": play.ts})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."))
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from ..skips.online import OnlineScorer

    start = time.perf_counter()
    scorer = OnlineScorer.load(args.root)
    load_s = time.perf_counter() - start
    plan = requests(args.root, args.calls, args.seed)
    scorer.predict(plan[0]["user"], plan[0]["track"], plan[0]["session"], "B", plan[0]["now"])
    times = []
    for r in plan:
        start = time.perf_counter()
        scorer.predict(r["user"], r["track"], r["session"], "B", r["now"])
        times.append(time.perf_counter() - start)
    ms = np.array(times) * 1000
    lengths = [len(r["session"]) for r in plan]
    print(f"load: {load_s:.2f} s; {len(ms)} calls of predict (arm B), one at a time")
    print(
        f"per call: median {np.median(ms):.2f} ms, p95 {np.percentile(ms, 95):.2f} ms, "
        f"mean {ms.mean():.2f} ms, max {ms.max():.2f} ms"
    )
    print(
        f"session events sent: median {statistics.median(lengths)}, max {max(lengths)}; "
        f"module {OnlineScorer.__module__} from {Path(__import__('pozytywka').__file__).parent}"
    )


if __name__ == "__main__":
    main()
