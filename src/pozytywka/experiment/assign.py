"""Stable arm assignment: a salted SHA-256 of the user id, not Python's ``hash()``.

``hash()`` of a string changes between processes (PYTHONHASHSEED), and
``random`` depends on call order; a cryptographic hash of ``salt:user_id``
gives every user the same arm on every run and platform, independently of
the other users, and a new salt reshuffles everyone (a fresh experiment).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

ARMS = ("A", "B")


def hash_unit(user_id: str, salt: str) -> float:
    """A number uniform in [0, 1) fixed by ``salt`` and ``user_id``.

    The first 8 bytes of SHA-256 of ``"{salt}:{user_id}"`` as an unsigned
    big-endian integer, divided by 2**64.
    """
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def arm_of(user_id: str, salt: str, split: float) -> str:
    """The arm of one user: ``"B"`` when their hash unit is below ``split``, else ``"A"``.

    The one assignment rule: the ``ab_test`` stage (:func:`assign_arms`) and the
    playlist service (``GET /v1/playlists``) both call it.
    """
    return "B" if hash_unit(str(user_id), salt) < split else "A"


def assign_arms(user_ids: Iterable[str], salt: str, split: float) -> pd.DataFrame:
    """``user_id`` -> ``arm``: ``"B"`` when the user's hash unit is below ``split``.

    Returns a frame with columns ``user_id`` (str), ``arm`` sorted by
    ``user_id``; duplicate and missing ids are dropped.
    """
    ids = pd.Series(list(user_ids), dtype="object").dropna().astype(str)
    ids = pd.Series(sorted(set(ids)), dtype="object")
    arms = np.array([arm_of(u, salt, split) for u in ids], dtype=object)
    return pd.DataFrame({"user_id": ids.astype(str), "arm": arms.astype(str)})
