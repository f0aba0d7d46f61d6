"""Genres a playlist could not be built for, summarised in one line (issue 9, item 10).

Used by the playlists stage (its log line), ``pozytywka summary`` and the PR report.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

SKIPPED_SHOWN = 5


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
    by_reason = "; ".join(
        f"{n} {kind}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))
    )
    names = ", ".join(genre for genre, _ in skipped[:shown])
    more = f" and {len(skipped) - shown} more" if len(skipped) > shown else ""
    text = f"{len(skipped)} genre{'s' if len(skipped) != 1 else ''} skipped ({by_reason}): "
    text += names + more
    return text + (f"; full list in {where}" if where and more else "")
