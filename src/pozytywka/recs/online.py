"""What the service loads to answer ``GET /v1/recommendations``: the published lists, once.

:class:`PublishedRecs` reads ``data/serving/recs.parquet`` and
``recs_fallback.parquet`` (written by ``recs_publish``) into memory when the app
starts; :meth:`PublishedRecs.recommend` is then a dictionary look-up, never a fit
(DESIGN §9: the service serves only what the pipeline published).

- A listener in the published file gets their arm's list. Its ``source`` is
  ``"model"``, or ``"popularity fallback (no history)"`` when the listener had no
  interactions (their list is popularity in their favourite genres).
- A listener the dump does not know gets the fallback list (last weeks' chart:
  no favourite genres are known) with source ``"popularity fallback (no history)"``.
- ``k`` above the published length returns the whole published list.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pandas as pd

from .. import paths
from ..errors import PozytywkaError
from .publish import FALLBACK_SOURCE

ARMS = ("A", "B")


@dataclass(frozen=True)
class PublishedRecs:
    """The published week: ``lists[(user_id, arm)] = (track ids, source)``, ``fallback``."""

    week_start: str
    lists: dict[tuple[str, str], tuple[tuple[str, ...], str]]
    fallback: tuple[str, ...]
    models: dict[str, str]  # arm -> model name

    @classmethod
    def load(
        cls,
        published: str | os.PathLike[str] = paths.RECS_PUBLISHED,
        fallback: str | os.PathLike[str] = paths.RECS_FALLBACK,
    ) -> PublishedRecs:
        """Read the two Parquet files; a missing one raises :class:`PozytywkaError`."""
        for path in (published, fallback):
            if not os.path.exists(path):
                raise PozytywkaError(f"{path} not found: run `dvc repro recs_publish`")
        frame = pd.read_parquet(published).sort_values(["user_id", "arm", "rank"], kind="stable")
        fb = pd.read_parquet(fallback).sort_values("rank", kind="stable")
        lists = {}
        for (user, arm), g in frame.groupby(["user_id", "arm"], sort=False):
            lists[(str(user), str(arm))] = (
                tuple(g["track_id"].astype(str)),
                str(g["source"].iloc[0]),
            )
        models = frame.drop_duplicates("arm").set_index("arm")["model"].astype(str).to_dict()
        week = str(frame["week_start"].iloc[0]) if len(frame) else str(fb["week_start"].iloc[0])
        return cls(week, lists, tuple(fb["track_id"].astype(str)), models)

    @property
    def max_k(self) -> int:
        return max((len(t) for t, _ in self.lists.values()), default=len(self.fallback))

    def knows(self, user_id: str) -> bool:
        """True when ``user_id`` has a published list (a listener of the dump); an unknown
        one gets the :attr:`fallback` chart."""
        return any((str(user_id), arm) in self.lists for arm in ARMS)

    def recommend(self, user_id: str, k: int, arm: str) -> tuple[list[str], str]:
        """(the first ``k`` track ids for ``user_id`` in ``arm``, source).

        Raises ValueError for an unknown arm or k < 1 (the router turns it into a 4xx).
        """
        if arm not in ARMS:
            raise ValueError(f"arm must be one of {', '.join(ARMS)}, got {arm!r}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        found = self.lists.get((str(user_id), arm))
        if found is None:
            return list(self.fallback[:k]), FALLBACK_SOURCE
        tracks, source = found
        return list(tracks[:k]), source


_LOADED: PublishedRecs | None = None


def recommend(user_id: str, k: int, arm: str) -> tuple[list[str], str]:
    """Module-level convenience: load the published files once, then answer from memory."""
    global _LOADED
    if _LOADED is None:
        _LOADED = PublishedRecs.load()
    return _LOADED.recommend(user_id, k, arm)
