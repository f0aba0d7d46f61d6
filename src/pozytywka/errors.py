"""The project's own exception type.

Errors a user can cause (bad params, a missing or malformed dump, too little
data) are raised as :class:`PozytywkaError`. The console script catches them
once and prints a single line; anything else is a bug and keeps its traceback.
"""

from collections.abc import Iterator
from contextlib import contextmanager


class PozytywkaError(Exception):
    """An error the user can fix: printed as one line, exit status 2."""


class ParamError(PozytywkaError):
    """A value in params.yaml is missing or outside its allowed range."""


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
    :class:`ArtifactUnreadable` ``"<path> is unreadable (<Type>: <reason>): <fix>"``.

    The readers (pyarrow, CatBoost, json) raise their own types for a truncated file
    (``ArrowInvalid``, ``CatBoostError``, ``JSONDecodeError``, ``OSError``); the
    service turns this one type into "this product is down, and why"."""
    try:
        yield
    except PozytywkaError:
        raise
    except Exception as exc:
        raise ArtifactUnreadable(f"{path} is unreadable ({first_line(exc)}): {fix}") from exc
