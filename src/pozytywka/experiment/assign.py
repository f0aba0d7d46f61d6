"""Stable arm assignment: a salted SHA-256 of the user id, not Python's ``hash()``.

``hash()`` of a string changes between processes (PYTHONHASHSEED), and
``random`` depends on call order; a cryptographic hash of ``salt:user_id``
gives every user the same arm on every run and platform, independently of
the other users, and a new salt reshuffles everyone (a fresh experiment).

The rule, published in ``docs/assignment.md`` with test vectors
(``tests/data/assignment_vectors.csv``) so another system can reproduce it:

1. ``bucket(id, salt, v)``: the first 8 bytes of SHA-256 of the UTF-8 string
   ``"{salt}:{id}"`` (version ``v`` = 1) or ``"{salt}:v{v}:{id}"`` (``v`` >= 2), as an
   unsigned big-endian integer, divided by 2**64: uniform in [0, 1).
2. Holdout: ``bucket(id, holdout_salt, v) < holdout`` -> ``"H"`` (served the
   baseline, arm A's output, in every experiment key: the holdout salt does not
   depend on the key, so it is the same listeners everywhere).
3. Otherwise ``"B"`` when ``bucket(id, salt, v) < split``, else ``"A"``.

Raising ``split`` only moves listeners from A to B (the threshold rises over a
fixed bucket), and raising ``holdout`` only moves listeners into H. Bumping
``bucket_version`` re-randomises everyone (arms and holdout); version 1 is the
rule the lab used before versions existed, so its buckets are unchanged.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np
import pandas as pd

ARMS = ("A", "B")
#: The global holdout's label in an assignment (served arm A's output, analysed apart).
HOLDOUT = "H"


def hash_unit(user_id: str, salt: str) -> float:
    """A number uniform in [0, 1) fixed by ``salt`` and ``user_id``.

    The first 8 bytes of SHA-256 of ``"{salt}:{user_id}"`` as an unsigned
    big-endian integer, divided by 2**64.
    """
    digest = hashlib.sha256(f"{salt}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def versioned_salt(salt: str, bucket_version: int = 1) -> str:
    """The salt hashed at ``bucket_version``: ``salt`` itself at 1, ``"{salt}:v{n}"`` from 2.

    Raises ``ValueError`` for a version below 1."""
    if int(bucket_version) < 1:
        raise ValueError(f"bucket_version must be >= 1, got {bucket_version}")
    return salt if int(bucket_version) == 1 else f"{salt}:v{int(bucket_version)}"


def bucket(user_id: str, salt: str, bucket_version: int = 1) -> float:
    """The listener's hash unit at ``bucket_version`` (step 1 of the module's rule)."""
    return hash_unit(str(user_id), versioned_salt(salt, bucket_version))


def arm_of(
    user_id: str,
    salt: str,
    split: float,
    *,
    holdout: float = 0.0,
    holdout_salt: str = "",
    bucket_version: int = 1,
) -> str:
    """The arm of one user: ``"H"`` (global holdout) when their holdout bucket is below
    ``holdout``, else ``"B"`` when their bucket is below ``split``, else ``"A"``.

    The one assignment rule: the ``ab_test`` stage (:func:`assign_arms`), the live
    simulation and the service (every experiment key) all call it. With
    ``holdout`` 0 (the default) nobody is held out and ``holdout_salt`` is unused."""
    if holdout > 0 and bucket(user_id, holdout_salt, bucket_version) < holdout:
        return HOLDOUT
    return "B" if bucket(user_id, salt, bucket_version) < split else "A"


def ab_arm(user_id: str, ab, salt: str | None = None) -> str:
    """:func:`arm_of` with the ``ab`` params (``split``, ``holdout``, ``holdout_salt``,
    ``bucket_version``) and ``salt`` (default ``ab.salt``: the playlists experiment)."""
    return arm_of(
        user_id,
        ab.salt if salt is None else salt,
        ab.split,
        holdout=ab.holdout,
        holdout_salt=ab.holdout_salt,
        bucket_version=ab.bucket_version,
    )


def assign_arms(
    user_ids: Iterable[str],
    salt: str,
    split: float,
    *,
    holdout: float = 0.0,
    holdout_salt: str = "",
    bucket_version: int = 1,
) -> pd.DataFrame:
    """``user_id`` -> ``arm`` (``"A"``, ``"B"``, or ``"H"`` for the holdout) by :func:`arm_of`.

    Returns a frame with columns ``user_id`` (str), ``arm`` sorted by
    ``user_id``; duplicate and missing ids are dropped.
    """
    ids = pd.Series(list(user_ids), dtype="object").dropna().astype(str)
    ids = pd.Series(sorted(set(ids)), dtype="object")
    arms = np.array(
        [
            arm_of(
                u,
                salt,
                split,
                holdout=holdout,
                holdout_salt=holdout_salt,
                bucket_version=bucket_version,
            )
            for u in ids
        ],
        dtype=object,
    )
    return pd.DataFrame({"user_id": ids.astype(str), "arm": arms.astype(str)})


def assign_ab(user_ids: Iterable[str], ab) -> pd.DataFrame:
    """:func:`assign_arms` of the playlists experiment with the ``ab`` params."""
    return assign_arms(
        user_ids,
        ab.salt,
        ab.split,
        holdout=ab.holdout,
        holdout_salt=ab.holdout_salt,
        bucket_version=ab.bucket_version,
    )
