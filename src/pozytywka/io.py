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
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

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


#: Rows per Parquet row group: pyarrow's default, which :func:`write_parquet` uses.
PARQUET_ROW_GROUP = 1024 * 1024


def write_parquet_tables(
    target: str | os.PathLike[str], tables: Iterable[pa.Table], schema: pa.Schema
) -> None:
    """Write Arrow ``tables`` as the consecutive row groups of one Parquet file, atomically.

    Each table is cast to ``schema`` and becomes one row group, so it may hold
    at most :data:`PARQUET_ROW_GROUP` rows; the writer's settings are those of
    :func:`write_parquet`. Give the schema pandas gives a frame
    (``pyarrow.Schema.from_pandas(frame, preserve_index=False)``) and the frame's
    rows cut into tables of exactly :data:`PARQUET_ROW_GROUP` rows (the last one
    shorter; one empty table for no rows), and the file is byte for byte the one
    :func:`write_parquet` writes for the frame, without the frame in memory.
    """
    import pyarrow.parquet as pq

    with atomic_path(target) as tmp, pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
        empty = True
        for table in tables:
            if table.num_rows > PARQUET_ROW_GROUP:
                raise ValueError(f"{table.num_rows} rows are more than one row group")
            writer.write_table(table.cast(schema))
            empty = False
        if empty:
            raise ValueError(f"no table to write to {target}")


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
