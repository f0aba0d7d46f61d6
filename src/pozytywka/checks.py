"""Pre-flight checks: everything that can stop the pipeline, checked before it runs.

DVC removes a stage's outputs just before it runs the stage. A bad param or a
dump too short for the evaluation, found inside a later stage, would therefore
cost the outputs of that stage (issue "a failed experiment breaks nothing").
The ``validate`` stage, which every other stage depends on, runs these checks
first; ``ingest`` (whose outputs DVC keeps, ``persist: true``) repeats the
dump-length check on the cleaned data before it writes anything.

The weeks each product needs (one source, used by the checks and the stages):

- playlists: ``split.min_train_weeks + split.valid_weeks + evaluate.eval_weeks + 1``
  (:func:`required_complete_weeks`);
- skips: ``skips.train_weeks + skips.valid_weeks + skips.eval_weeks``;
- recs: ``recs.min_train_weeks + recs.valid_weeks + recs.eval_weeks``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .config import Params
from .errors import PozytywkaError


def required_complete_weeks(min_train_weeks: int, valid_weeks: int, eval_weeks: int) -> int:
    """Complete weeks a dump needs for the train/validate/backtest split.

    The last complete week has no target (it is the prediction week). The first
    backtest week needs ``min_train_weeks`` training weeks and ``valid_weeks``
    validation weeks before it, then ``eval_weeks`` backtest weeks follow:
    ``min_train_weeks + valid_weeks + eval_weeks`` labelled weeks + 1.
    """
    return min_train_weeks + valid_weeks + eval_weeks + 1


@dataclass(frozen=True)
class WeeksNeed:
    """Complete weeks one product needs, and the params that set the number."""

    product: str
    weeks: int
    because: str  # "split.min_train_weeks 4 + ..." for the message


def weeks_needed(params: Params) -> list[WeeksNeed]:
    """Complete weeks each product needs under ``params`` (see the module docstring)."""
    sp, ev, sk, rp = params.split, params.evaluate, params.skips, params.recs
    return [
        WeeksNeed(
            "playlists",
            required_complete_weeks(sp.min_train_weeks, sp.valid_weeks, ev.eval_weeks),
            f"split.min_train_weeks {sp.min_train_weeks} + split.valid_weeks "
            f"{sp.valid_weeks} + evaluate.eval_weeks {ev.eval_weeks} + 1 prediction week",
        ),
        WeeksNeed(
            "skips",
            sk.train_weeks + sk.valid_weeks + sk.eval_weeks,
            f"skips.train_weeks {sk.train_weeks} + skips.valid_weeks {sk.valid_weeks} "
            f"+ skips.eval_weeks {sk.eval_weeks}",
        ),
        WeeksNeed(
            "recs",
            rp.min_train_weeks + rp.valid_weeks + rp.eval_weeks,
            f"recs.min_train_weeks {rp.min_train_weeks} + recs.valid_weeks "
            f"{rp.valid_weeks} + recs.eval_weeks {rp.eval_weeks}",
        ),
    ]


def check_dump_length(complete_weeks: int, params: Params, source: str) -> None:
    """Raise :class:`PozytywkaError` (one line) when a product needs more complete weeks
    than the dump at ``source`` has."""
    for need in weeks_needed(params):
        if complete_weeks < need.weeks:
            raise PozytywkaError(
                f"{source} has {complete_weeks} complete weeks, {need.product} needs "
                f"{need.weeks} ({need.because}): use a longer dump or lower those params"
            )


def recorded_complete_weeks(quality_path: Path, source: str) -> int | None:
    """The complete weeks ``ingest`` counted in ``source``, from its row account
    (``metrics/data_quality.json``), or None when that account is of another dump,
    missing or unreadable."""
    try:
        quality = json.loads(quality_path.read_text(encoding="utf-8"))
        if quality.get("source") != source:
            return None
        return int(quality["window"]["complete_weeks"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
