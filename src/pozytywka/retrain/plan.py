"""Which week a retraining adds, and the params edit that adds it (pure functions).

The synthetic service's data window is ``data.synthetic.weeks``: the dump holds
world weeks ``0 .. weeks-1`` from ``start_date``, so its newest week starts
``start_date + (weeks - 1)`` weeks. Retraining "through ISO week W" sets the
horizon so that W is the newest week; with no W it adds one week.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pandas as pd

from .. import paths
from ..errors import PozytywkaError
from .hindsight import ab_outcome

_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_iso_week(text: str) -> dt.date:
    """The Monday of ISO week ``YYYY-Www``; weeks the ISO calendar lacks are errors.

    ``2021-W53`` (2021 has 52 ISO weeks), ``2025-W00`` and ``2025-W99`` raise
    :class:`PozytywkaError` with one line; ``2020-W53`` is 2020-12-28.
    """
    m = _ISO_WEEK.match(text.strip())
    if not m:
        raise PozytywkaError(f"week must look like 2025-W07, got {text!r}")
    year, week = int(m[1]), int(m[2])
    try:
        monday = dt.date.fromisocalendar(year, week, 1)
    except ValueError:
        weeks_in_year = dt.date(year, 12, 28).isocalendar()[1]
        raise PozytywkaError(
            f"{text} is not an ISO week: {year} has weeks W01..W{weeks_in_year:02d}"
        ) from None
    return monday


def newest_week(start_date: str, weeks: int) -> pd.Timestamp:
    """Monday of the newest week a synthetic dump of horizon ``weeks`` holds."""
    return pd.Timestamp(start_date) + pd.Timedelta(weeks=weeks - 1)


def target_horizon(start_date: str, weeks: int, week: str | None) -> int:
    """The horizon whose newest week is ISO week ``week`` (None: one more than ``weeks``)."""
    if week is None:
        return weeks + 1
    monday = pd.Timestamp(parse_iso_week(week))
    start = pd.Timestamp(start_date)
    if monday < start:
        raise PozytywkaError(f"{week} is before the synthetic service starts ({start.date()})")
    return int((monday - start) // pd.Timedelta(weeks=1)) + 1


def set_synthetic_weeks(params_text: str, weeks: int) -> str:
    """``params.yaml`` text with ``data.synthetic.weeks`` set (comments and layout kept)."""
    pattern = re.compile(
        r"(^data:\n(?:(?:[ \t].*)?\n)*?[ \t]+synthetic:\n(?:(?:[ \t].*)?\n)*?[ \t]+weeks:[ \t]*)"
        r"(\d+)",
        re.MULTILINE,
    )
    new, n = pattern.subn(lambda m: f"{m[1]}{weeks}", params_text, count=1)
    if n != 1:
        raise PozytywkaError("params.yaml has no data.synthetic.weeks to advance")
    return new


def previous_results(read: Callable[[str], bytes | None], base: str) -> dict[str, Any]:
    """The base revision's published playlists, backtest and A/B headline, for ``hindsight``.

    ``read(path)`` returns a file's bytes at the base (None if absent there).
    """

    def load(path: str) -> Any:
        raw = read(path)
        return None if raw is None else json.loads(raw)

    offline = load(paths.OFFLINE_METRICS.as_posix())
    return {
        "base": base,
        "playlists": load(paths.PLAYLISTS_JSON.as_posix()),
        "offline": None
        if offline is None
        else {
            m: {"ndcg_at_k": (offline.get(m) or {}).get("ndcg_at_k")}
            for m in ("baseline", "catboost")
        }
        | {"k": offline.get("k")},
        "ab": ab_outcome(load(paths.AB_METRICS.as_posix())),
    }
