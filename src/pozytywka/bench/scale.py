"""A target number of session events -> the synthetic generator's params.

The generator's expected event count is
``users x weeks x sessions_per_user_week x events_per_session``. The benchmark
keeps the *shape* of the default world (weeks of history, sessions per user
and week, events per session) and scales the number of users, because that is
how a service grows: more listeners, the same year of history. The catalogue
grows too, but more slowly (with the square root of the users), as catalogues
do; that is what keeps the weekly (track x week) tables, and so training, small
next to the event log. The dump's real event count (after dirt) is counted and
reported, so the mapping only has to be roughly right.
"""

from __future__ import annotations

import dataclasses
import math

from ..config import SyntheticParams
from ..errors import PozytywkaError

#: The smallest world the pipeline can train and evaluate on.
MIN_USERS = 20
MIN_ARTISTS = 20


def expected_events(params: SyntheticParams) -> float:
    """Events the generator is expected to write for ``params`` (before dirt)."""
    return params.users * params.weeks * params.sessions_per_user_week * params.events_per_session


def synthetic_for_events(events: int, base: SyntheticParams) -> SyntheticParams:
    """Params of a synthetic world with about ``events`` session events.

    Users scale linearly with ``events``; artists with the square root of the
    user ratio (never fewer than :data:`MIN_ARTISTS`). Everything else is ``base``.
    """
    if events <= 0:
        raise PozytywkaError(f"bench: an event count must be positive, got {events}")
    per_user = base.weeks * base.sessions_per_user_week * base.events_per_session
    users = max(MIN_USERS, round(events / per_user))
    artists = max(MIN_ARTISTS, round(base.artists * math.sqrt(users / base.users)))
    return dataclasses.replace(base, users=users, artists=artists)


def parse_scales(text: str) -> list[int]:
    """``"1000000 10M 2.5e6"`` -> sorted event counts (accepts k/M suffixes)."""
    out = []
    for token in text.replace(",", " ").split():
        mult = {"k": 1_000, "m": 1_000_000}.get(token[-1].lower(), 1)
        number = token[:-1] if mult != 1 else token
        try:
            value = float(number) * mult
        except ValueError:
            raise PozytywkaError(
                f"bench: {token!r} is not an event count (e.g. 1000000, 1M, 200k)"
            ) from None
        if value < 1000:
            raise PozytywkaError(f"bench: an event count must be >= 1000, got {token!r}")
        out.append(int(value))
    if not out:
        raise PozytywkaError("bench: no event counts given (e.g. --events '1000000 10000000')")
    return sorted(set(out))
