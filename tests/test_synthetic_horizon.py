"""A world that advances: the synthetic service at horizon N+1 is horizon N plus one week.

Weekly retraining moves ``data.synthetic.weeks`` by one; these properties say that
this adds one week of listening (and that week's releases and sign-ups) to the same
service instead of drawing another one.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from pozytywka.config import Params, SyntheticParams
from pozytywka.stages.generate import generate_dump
from pozytywka.synthetic import build_world, simulate_week
from pozytywka.synthetic.simulate import history_events

TINY = SyntheticParams(
    seed=5,
    users=150,
    artists=20,
    tracks_per_artist=6.0,
    genres=6,
    weeks=6,
    sessions_per_user_week=1.0,
    events_per_session=6.0,
    signup_rate=0.02,  # a few sign-ups every week, so the users file grows too
    dirt="standard",
)
FILES = ("artists", "tracks", "users", "sessions", "track_storage")


def _dump(tmp: Path, sp: SyntheticParams) -> Path:
    target = tmp / f"w{sp.weeks}-{sp.seed}-{sp.dirt}"
    generate_dump(Params(data=dataclasses.replace(Params().data, synthetic=sp)), target)
    return target


def _text(folder: Path, name: str) -> bytes:
    """A file's content (decompressed: gzip bytes are not comparable across lengths)."""
    plain = folder / f"{name}.jsonl"
    if plain.exists():
        return plain.read_bytes()
    return gzip.decompress((folder / f"{name}.jsonl.gz").read_bytes())


@settings(max_examples=4, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    weeks=st.integers(6, 9),
    dirt=st.sampled_from(["none", "standard"]),
)
def test_one_more_week_appends_to_every_file_byte_for_byte(
    tmp_path_factory, seed: int, weeks: int, dirt: str
) -> None:
    tmp = tmp_path_factory.mktemp("horizon")
    sp = dataclasses.replace(TINY, seed=seed, weeks=weeks, dirt=dirt)
    short = _dump(tmp, sp)
    longer = _dump(tmp, dataclasses.replace(sp, weeks=weeks + 1))
    for name in FILES:
        a, b = _text(short, name), _text(longer, name)
        assert b.startswith(a), name
    # the added lines of the sessions file are exactly the new week's events
    added = _text(longer, "sessions")[len(_text(short, "sessions")) :].decode().splitlines()
    assert added
    stamps = pd.to_datetime([json.loads(line)["timestamp"] for line in added], format="ISO8601")
    new_week = pd.Timestamp(sp.start_date) + pd.Timedelta(weeks=weeks)
    assert (stamps >= new_week).all() and (stamps < new_week + pd.Timedelta(weeks=1)).all()
    # new releases of that week are appended to the catalogue, on its Friday
    added_tracks = _text(longer, "tracks")[len(_text(short, "tracks")) :].decode().splitlines()
    dates = {json.loads(line)["release_date"] for line in added_tracks}
    assert dates <= {str((new_week + pd.Timedelta(days=4)).date()), "2024", "2024-02", "2024-03"}


def test_heavy_dirt_appends_too_except_the_partial_last_week_and_final_blank(
    tmp_path: Path,
) -> None:
    """Heavy dirt cuts the dump's last week at Thursday noon and ends files with a blank
    line: those are the only bytes of horizon N that horizon N+1 writes differently."""
    sp = dataclasses.replace(TINY, dirt="heavy")
    short, longer = _dump(tmp_path, sp), _dump(tmp_path, dataclasses.replace(sp, weeks=7))
    for name in ("artists", "tracks", "users", "track_storage"):
        a, b = _text(short, name), _text(longer, name)
        term = b"\r\n" if a.endswith(b"\r\n") else b"\n"
        assert a.endswith(term + term), name  # the final blank line
        assert b.startswith(a[: -len(term)]), name
    a, b = _text(short, "sessions"), _text(longer, "sessions")
    last_week = str((pd.Timestamp(sp.start_date) + pd.Timedelta(weeks=sp.weeks - 1)).date())
    lines = a.splitlines(keepends=True)
    dates = [re.search(rb'"timestamp": "(\d{4}-\d\d-\d\d)', line) for line in lines]
    first = next(i for i, m in enumerate(dates) if m and m[1].decode() >= last_week)
    cut = sum(len(line) for line in lines[:first])  # where the last (partial) week starts
    assert 0 < cut < len(a)
    assert b.startswith(a[:cut])
    assert len(b) > len(a)


def test_the_world_at_n_plus_1_extends_the_world_at_n() -> None:
    n = build_world(TINY)
    m = build_world(dataclasses.replace(TINY, weeks=TINY.weeks + 1))
    t, u = n.n_tracks, n.n_users
    assert m.n_tracks >= t and m.n_users >= u
    assert np.array_equal(m.track_ids[:t], n.track_ids)
    assert np.array_equal(m.user_ids[:u], n.user_ids)
    assert np.array_equal(m.log_appeal[:t, : TINY.weeks + 1], n.log_appeal)
    assert np.array_equal(m.appeal_z[:t, : TINY.weeks + 1], n.appeal_z)
    assert np.array_equal(m.genre_momentum[:, : TINY.weeks + 1], n.genre_momentum)
    assert np.array_equal(m.activity[:u], n.activity)
    # nobody listens before signing up
    ev = history_events(m, progress=False)
    week = (ev.ts - m.week_start(0).value // 1000) // (7 * 86_400 * 10**6)
    assert (m.user_block[ev.user] <= week + 1).all()


def test_the_published_week_is_the_week_the_next_horizon_adds() -> None:
    """Horizon N plays week N (the A/B week) from the same stream that horizon N+1
    writes into its dump: the organic listening the A/B simulated is what happened."""
    n = build_world(TINY)
    m = build_world(dataclasses.replace(TINY, weeks=TINY.weeks + 1))
    played = simulate_week(n, TINY.weeks, None, seed=TINY.seed)
    ev = history_events(m, progress=False)
    start = m.week_start(TINY.weeks).value // 1000
    mask = (ev.ts >= start) & (ev.etype != 3)
    assert len(played) == int(mask.sum()) > 0
    assert np.array_equal(played["timestamp"].to_numpy().astype("int64"), ev.ts[mask])
    assert np.array_equal(played["user_id"].to_numpy(), m.user_ids[ev.user[mask]])
