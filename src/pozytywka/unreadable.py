"""A published file that exists but does not read: one line naming it (issue 22, item 3).

The service loads its optional parts (skip model, recommendations, catalogue) from
files the pipeline wrote. A file cut short by a full disk, or corrupt, makes its
reader raise its own type (pyarrow ``ArrowInvalid``, ``CatBoostError``, DuckDB's
``InvalidInputException``, ``JSONDecodeError``, ``OSError``). :func:`reading` turns
any of them into :class:`ArtifactUnreadable` with one line naming the file, what the
reader said and what to run; the service then disables that part only.

Kept out of :mod:`pozytywka.errors`, which every pipeline stage declares as a
dependency: only the service's loaders use this.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .errors import PozytywkaError


class ArtifactUnreadable(PozytywkaError):
    """A published file exists but cannot be read (truncated, corrupt, not a file of its
    kind): one line naming the file, what the reader said and the stage that rewrites it."""


def first_line(exc: BaseException) -> str:
    """``"<ExceptionType>: <first line of its message>"`` (the type alone for no message)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0].strip()}" if lines else type(exc).__name__


@contextmanager
def reading(path: object, fix: str) -> Iterator[None]:
    """Run the block that reads ``path``; any failure but a :class:`PozytywkaError` becomes
    :class:`ArtifactUnreadable` ``"<path> is unreadable (<Type>: <reason>): <fix>"``."""
    try:
        yield
    except PozytywkaError:
        raise
    except Exception as exc:
        raise ArtifactUnreadable(f"{path} is unreadable ({first_line(exc)}): {fix}") from exc
