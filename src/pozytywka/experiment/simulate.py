"""Synthetic mode: ask the generator's behaviour model what each user does next week.

The world is rebuilt from ``data.synthetic`` (deterministic from the params,
so it is the world the dump came from) and its ``simulate_week`` plays the
week the playlists are published for, with every user served the playlists
of their arm. Users keep their usual (organic) listening; the experiment
measures what they do with the served playlists (events with
``source == "playlist"``), the part of their week the arms differ in.
Counting organic events too would add the same noise to both arms and only
widen the interval.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..paths import RAW_SYNTHETIC
from .assign import HOLDOUT

SimulateWeek = Callable[..., pd.DataFrame]


def is_synthetic_source(source: str | Path, synthetic_dir: str | Path = RAW_SYNTHETIC) -> bool:
    """True when ``data.source`` is the synthetic dump (so the behaviour model applies)."""
    return Path(source).resolve() == Path(synthetic_dir).resolve()


def served_mapping(
    assignment: pd.DataFrame, served_by_arm: Mapping[str, Sequence[Sequence[str]]]
) -> dict[str, list[list[str]]]:
    """``user_id`` -> the track-id lists of that user's arm (what ``simulate_week`` takes).

    A held-out listener (arm ``"H"``, :mod:`.assign`) is served the baseline, arm A's
    lists, unless ``served_by_arm`` gives ``"H"`` its own."""
    lists = {arm: [list(p) for p in served_by_arm[arm]] for arm in ("A", "B")}
    lists[HOLDOUT] = [list(p) for p in served_by_arm.get(HOLDOUT, served_by_arm["A"])]
    return {u: lists[a] for u, a in zip(assignment["user_id"], assignment["arm"], strict=True)}


def counted_events(
    events: pd.DataFrame,
    assignment: pd.DataFrame,
    served_by_arm: Mapping[str, Sequence[Sequence[str]]],
) -> np.ndarray:
    """Which simulated events the experiment measures: the playlist ones.

    If the simulator does not tag a ``source``, fall back to events on the
    tracks served to the user's arm (what replay counts).
    """
    if "source" in events.columns:
        return events["source"].eq("playlist").to_numpy(dtype=bool)
    from .replay import on_served_tracks

    with_holdout = {HOLDOUT: served_by_arm["A"], **served_by_arm}
    return on_served_tracks(events, assignment, with_holdout)


def simulate_ab_week(
    world: Any,
    week: int,
    assignment: pd.DataFrame,
    served_by_arm: Mapping[str, Sequence[Sequence[str]]],
    seed: int,
    simulate_week: SimulateWeek | None = None,
) -> pd.DataFrame:
    """The simulated week's events with every assigned user served their arm's playlists.

    ``simulate_week`` defaults to ``pozytywka.synthetic.simulate_week`` (tests
    pass a small fake with the same signature).
    """
    if simulate_week is None:
        from ..synthetic import simulate_week
    served = served_mapping(assignment, served_by_arm)
    events = simulate_week(world, week=week, served=served, seed=seed)
    return events.reset_index(drop=True)


def experiment_week_seed(seed: int, k: int) -> int:
    """The behaviour model's seed for week ``k`` (0-based) of a longer experiment.

    Week 0 uses ``seed`` itself (so a one-week run is what it always was); later weeks
    a seed derived from ``(seed, k)`` by numpy's ``SeedSequence`` (independent draws).
    """
    if k == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1)[0])


def shift_experiment_week(events: pd.DataFrame, k: int) -> pd.DataFrame:
    """Week ``k``'s events moved ``7 k`` days on, session ids prefixed ``e{k}-`` (k > 0).

    The published playlists stay on the shelf after the planned week: week ``k`` of the
    experiment replays the published week's behaviour model with fresh draws
    (:func:`experiment_week_seed`), dated after the weeks before it.
    """
    if k == 0:
        return events
    out = events.copy()
    out["timestamp"] = pd.to_datetime(out["timestamp"]) + pd.Timedelta(days=7 * k)
    out["session_id"] = f"e{k}-" + out["session_id"].astype(str)
    return out
