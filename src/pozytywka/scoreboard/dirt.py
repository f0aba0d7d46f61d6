"""Typical dirt added to a real dump, to check the pipeline survives it.

Real exports come with null ids, junk lines, a UTF-8 byte-order mark and sentinel
ids (docs/real-dumps.md lists what each edition does). :func:`dirty_lines` adds
exactly these to the lines of one JSON-lines file, from a seeded generator, so a
dump and its dirty copy can be run side by side (the scoreboard's ``+dirt`` rows):

- a BOM before the first line;
- ``junk_rate`` of the lines followed by a junk line (a blank line, a truncated
  copy of the line, or ``not json``);
- in ``sessions``, ``null_rate`` of the objects get ``user_id`` or ``track_id``
  set to null;
- in ``tracks``, ``null_rate`` of the objects get the sentinel ``-1`` as ``id_artist``.

Lines that are not a JSON object (a JSON array, as one edition writes) are kept as
they are, apart from the BOM and junk lines.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

JUNK = ("", "not json", None)  # None: a truncated copy of the line
NULL_FIELDS = {"sessions": ("user_id", "track_id"), "tracks": ("id_artist",)}
SENTINEL = {"id_artist": -1}
BOM = "\ufeff"


def dirty_lines(
    lines: list[str], table: str, rng: np.random.Generator, null_rate: float, junk_rate: float
) -> list[str]:
    """``lines`` (one JSON document each, no newline) with dirt added, as described above."""
    out: list[str] = []
    fields = NULL_FIELDS.get(table, ())
    for line in lines:
        if fields and rng.random() < null_rate:
            try:
                obj = json.loads(line)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                field = fields[int(rng.integers(len(fields)))]
                obj[field] = SENTINEL.get(field)
                line = json.dumps(obj, ensure_ascii=False)
        out.append(line)
        if rng.random() < junk_rate:
            junk = JUNK[int(rng.integers(len(JUNK)))]
            out.append(line[: max(len(line) // 2, 1)] if junk is None else junk)
    if out:
        out[0] = BOM + out[0]
    return out


def _read_lines(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read().splitlines()


def dirty_copy(
    source: Path, target: Path, seed: int = 0, null_rate: float = 0.02, junk_rate: float = 0.002
) -> None:
    """Copy the dump folder ``source`` to ``target`` (plain ``.jsonl`` files) with dirt added.

    Each file gets its own stream (seeded by ``seed`` and the table's position in
    the sorted file list), so the copy is the same bytes on every run.
    """
    target.mkdir(parents=True, exist_ok=True)
    for i, path in enumerate(sorted(source.iterdir())):
        if not path.name.endswith((".jsonl", ".jsonl.gz")):
            continue
        table = path.name.split(".")[0]
        rng = np.random.default_rng([seed, i])
        lines = dirty_lines(_read_lines(path), table, rng, null_rate, junk_rate)
        (target / f"{table}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
