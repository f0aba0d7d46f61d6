"""Genres a playlist could not be built for, summarised in one line (issue 9, item 10).

Used by the playlists stage (its log line), ``pozytywka summary`` and the PR report.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

SKIPPED_SHOWN = 5


_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def _with_ranges(kind: str, values: list[list[float]]) -> str:
    """``kind`` with each ``N`` put back as its value, or ``lo-hi`` where the grouped
    reasons differ ("only 0-8 eligible tracks (min_size 10)")."""
    parts = kind.split("N")
    out = parts[0]
    for i, rest in enumerate(parts[1:]):
        column = [row[i] for row in values if i < len(row)]
        lo, hi = (min(column), max(column)) if column else (None, None)
        out += ("N" if lo is None else _fmt(lo) if lo == hi else f"{_fmt(lo)}-{_fmt(hi)}") + rest
    return out


def _fmt(x: float) -> str:
    return str(int(x)) if x.is_integer() else f"{x:g}"


def skip_reason_kind(reason: str) -> str:
    """A skip reason with its numbers replaced by ``N``: reasons of one kind group together
    ("only 3 eligible tracks (min_size 10)" -> "only N eligible tracks (min_size N)")."""
    return re.sub(r"\d+(\.\d+)?", "N", reason) if reason else "no reason given"


def skipped_summary(
    skipped: Sequence[tuple[str, str]], shown: int = SKIPPED_SHOWN, where: str | None = None
) -> str:
    """One line for many skipped genres (issue 9, item 10): the count, the counts by
    kind of reason (most frequent first), the first ``shown`` genres by name and,
    when given, ``where`` the full list is. "" for no skipped genre.
    """
    if not skipped:
        return ""
    kinds = Counter(skip_reason_kind(reason) for _, reason in skipped)
    numbers: dict[str, list[list[float]]] = {}
    for _, reason in skipped:
        numbers.setdefault(skip_reason_kind(reason), []).append(
            [float(x) for x in _NUMBER.findall(reason or "")]
        )
    by_reason = "; ".join(
        f"{n} {_with_ranges(kind, numbers[kind])}"
        for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    names = ", ".join(genre for genre, _ in skipped[:shown])
    more = f" and {len(skipped) - shown} more" if len(skipped) > shown else ""
    text = f"{len(skipped)} genre{'s' if len(skipped) != 1 else ''} skipped ({by_reason}): "
    text += names + more
    return text + (f"; full list in {where}" if where and more else "")
