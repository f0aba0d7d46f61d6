"""Gaps in the log: complete weeks with no, or almost no, events.

A dump can lose a week inside its time range (the service was down, an export
lost a file). Such a week is not a quiet week: its popularity is not zero, it is
unknown. Treated as data, it empties the history of the week after it (the
backtest then scores a week against an empty history) and gives the week before
it a target of zero.

**Definition.** Among the complete weeks of the log (:func:`pozytywka.weeks.complete_weeks`),
a week is a *gap* when its kept session events (plays, skips, likes, ads: every
event shows the log was running) are fewer than ``data.gap_min_share`` times the
median of the complete weeks' counts, or zero. The default share 0.1 keeps real
quiet weeks (holidays roughly halve the traffic) and flags a week that lost at
least nine tenths of it; 0 flags only weeks with no event at all.

Who uses it: ``ingest`` reports the gaps in ``metrics/data_quality.json``
(``gaps``) and ``features`` marks every feature week whose history window
(``features.history_weeks`` weeks up to it) or target week (the one after) holds
a gap, so that training and the backtest leave it out (:mod:`pozytywka.playlists.features`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .engine import DuckDBEngine, Engine

log = logging.getLogger(__name__)


def weekly_event_counts_sql(source: str, where: str = "TRUE") -> str:
    """SQL (DuckDB): ``week_start``, ``events`` per ISO week of the rows of ``source``.

    ``source`` is a table name or a ``read_parquet(...)`` call with a ``timestamp``
    column; ``where`` filters rows (e.g. kept rows only).
    """
    return (
        f"SELECT date_trunc('week', \"timestamp\") AS week_start, count(*) AS events "
        f'FROM {source} WHERE "timestamp" IS NOT NULL AND ({where}) GROUP BY 1'
    )


def find_gaps(
    weeks: Sequence[pd.Timestamp], counts: Mapping[pd.Timestamp, int], min_share: float
) -> dict:
    """The gap weeks among the complete ``weeks``, given events per week.

    ``counts`` maps a week start to its event count (weeks absent have 0).
    Returns ``{"min_share", "median_week_events", "threshold", "weeks":
    [{"week_start": "YYYY-MM-DD", "events": int}]}`` with weeks in time order
    (the ``gaps`` section of ``metrics/data_quality.json``).
    """
    by_week = {pd.Timestamp(k): int(v) for k, v in counts.items()}
    events = np.array([by_week.get(pd.Timestamp(w), 0) for w in weeks], dtype=float)
    median = float(np.median(events)) if len(events) else 0.0
    threshold = min_share * median
    gaps = [
        {"week_start": pd.Timestamp(w).strftime("%Y-%m-%d"), "events": int(n)}
        for w, n in zip(weeks, events, strict=True)
        if n == 0 or n < threshold
    ]
    return {
        "min_share": float(min_share),
        "median_week_events": round(median, 1),
        "threshold": round(threshold, 1),
        "weeks": gaps,
    }


def gap_starts(gaps: Mapping) -> list[pd.Timestamp]:
    """The week starts of :func:`find_gaps`' result."""
    return [pd.Timestamp(g["week_start"]) for g in gaps.get("weeks", [])]


def describe(gaps: Mapping) -> str:
    """One line for logs and the summary, e.g. ``1 gap week: 2024-02-12 (0 events; ...)``."""
    weeks = gaps.get("weeks", [])
    if not weeks:
        return "no gap weeks"
    listed = ", ".join(f"{g['week_start']} ({g['events']} events)" for g in weeks)
    return (
        f"{len(weeks)} gap week{'s' if len(weeks) != 1 else ''}: {listed}; fewer than "
        f"{gaps['min_share']:g} x the median week ({gaps['median_week_events']:g} events)"
    )


def log_gaps(gaps: dict) -> dict:
    """Warn about the gap weeks (one line) and return ``gaps`` unchanged."""
    if gaps.get("weeks"):
        log.warning(
            "%s: weeks whose history or target touches a gap are left out of training "
            "and the backtest",
            describe(gaps),
        )
    return gaps


def session_gaps(
    sessions: str | os.PathLike[str],
    weeks: Sequence[pd.Timestamp],
    min_share: float,
    engine: Engine | None = None,
) -> dict:
    """:func:`find_gaps` for the interim sessions Parquet file.

    Counted by ``engine`` (DuckDB when None, or Spark: :mod:`pozytywka.engine`).
    """
    engine = DuckDBEngine() if engine is None else engine
    raw = engine.query(weekly_event_counts_sql("sessions"), {"sessions": sessions})
    counts = dict(zip(pd.to_datetime(raw["week_start"]), raw["events"].astype(int), strict=True))
    return find_gaps(weeks, counts, min_share)
