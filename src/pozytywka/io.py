"""The one writer for stage outputs, and the readers that go with it.

Every output is written to a temporary file beside its target and renamed into
place, so an interrupted or failed stage never leaves a half-written file that
a later stage or DVC would take as valid. Outputs are deterministic: JSON keys
are sorted, floats rounded where the caller asks, PNGs carry no timestamp.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it into place on success."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp makes the file private (0600); outputs get the usual mode instead.
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _plain(value: Any) -> Any:
    """Numpy and pandas scalars to plain Python, so json.dumps accepts them."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return value.item()
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_json(target: str | os.PathLike[str], data: Any) -> None:
    """Write JSON with sorted keys and a trailing newline (stable diffs)."""
    text = json.dumps(data, indent=2, sort_keys=True, default=_plain, allow_nan=False) + "\n"
    write_text(target, text)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_parquet(target: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    """Write a Parquet table without the pandas index (row order is the caller's)."""
    with atomic_path(target) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")


def write_csv(target: str | os.PathLike[str], frame: pd.DataFrame) -> None:
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, index=False, lineterminator="\n")


def save_figure(target: str | os.PathLike[str], figure: Any) -> None:
    """Save a matplotlib figure as a PNG with no timestamp or version inside."""
    import matplotlib.pyplot as plt

    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=100, metadata={"Software": None})
    plt.close(figure)


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
