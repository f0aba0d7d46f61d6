"""``pozytywka generate``: the synthetic Pozytywka dump, written to data/raw/synthetic/.

The folder is written whole into a temporary folder beside the target and
renamed into place, so an interrupted run never leaves a half-written dump
that ``ingest`` (or DVC) would take as valid.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from ..config import Params
from ..paths import RAW_SYNTHETIC
from ..synthetic.dirt import get_profile
from ..synthetic.dump import build_dump, write_dump
from ..synthetic.simulate import history_events
from ..synthetic.world import build_world

logger = logging.getLogger(__name__)


def generate_dump(params: Params, target: str | os.PathLike[str] = RAW_SYNTHETIC) -> dict[str, int]:
    """Build the world, simulate its history, dirty it and write the dump to ``target``.

    Returns the number of lines written per file.
    """
    sp = params.data.synthetic
    profile = get_profile(sp.dirt)
    started = time.perf_counter()
    world = build_world(sp)
    logger.info(
        "world: %d genres, %d artists, %d tracks, %d users, %d weeks from %s",
        world.n_genres,
        len(world.artist_ids),
        world.n_tracks,
        world.n_users,
        sp.weeks,
        sp.start_date,
    )
    events = history_events(world)
    logger.info("simulated %d clean events in %.1fs", len(events), time.perf_counter() - started)
    files = build_dump(world, events, profile)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        counts = write_dump(files, tmp)
        old = None
        if target.exists():
            old = Path(
                tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
            )
            os.replace(target, old / "dump")
        os.replace(tmp, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info(
        "wrote %s (dirt: %s): %s lines in %.1fs",
        target,
        sp.dirt,
        ", ".join(f"{k} {v}" for k, v in counts.items()),
        time.perf_counter() - started,
    )
    return counts


def run(params: Params) -> None:
    """Entry point of the ``generate`` DVC stage."""
    generate_dump(params, RAW_SYNTHETIC)
