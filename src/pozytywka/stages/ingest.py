"""``pozytywka ingest``: the dump at ``data.source`` into ``data/interim/`` and a row account.

Thin entry point: :func:`pozytywka.ingest.ingest_dump` does the work (and raises
a one-line :class:`~pozytywka.errors.PozytywkaError` for a dump it cannot use)
and writes the sessions table itself, straight from DuckDB once everything is
validated; this module writes the other results, each file atomically, and then
removes any file in its output folders that this run did not write, so the
folders hold exactly this run's outputs (no sample left over from an earlier,
dirtier dump).
Nothing is written or removed when the dump is rejected, too short for the
evaluation included (:func:`pozytywka.checks.check_dump_length`); DVC keeps the
outputs of a failed run too (``persist: true`` in dvc.yaml).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .. import paths
from ..checks import check_dump_length
from ..config import Params
from ..ingest import ingest_dump
from ..ingest.pipeline import BIG_TABLES
from ..io import write_csv, write_json, write_parquet, write_text

log = logging.getLogger(__name__)

INTERIM_FILES = {
    "artists": paths.INTERIM_ARTISTS,
    "tracks": paths.INTERIM_TRACKS,
    "track_genres": paths.INTERIM_TRACK_GENRES,
    "users": paths.INTERIM_USERS,
    "sessions": paths.INTERIM_SESSIONS,
    "track_storage": paths.INTERIM_STORAGE,
}
SUMMARY = paths.DATA_QUALITY_REPORTS / "summary.md"


def sample_path(table: str) -> Path:
    """Where the sample of a table's dropped rows goes."""
    return paths.DATA_QUALITY_REPORTS / f"{table}_dropped_sample.csv"


def remove_stale(folder: Path, keep: set[Path]) -> list[Path]:
    """Delete the files in ``folder`` (recursively) that are not in ``keep``."""
    if not folder.is_dir():
        return []
    keep_resolved = {p.resolve() for p in keep}
    removed = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.resolve() not in keep_resolved:
            path.unlink()
            removed.append(path)
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return removed


def unversioned_source(source: str | Path) -> str | None:
    """Why a dump folder is not versioned data (a one-line warning), or None when it is.

    A dump is versioned when the ``generate`` stage makes it (``data/raw/synthetic``)
    or when ``dvc add`` / ``dvc import-url`` tracked it or a folder above it (a
    ``<folder>.dvc`` file next to it). Otherwise ``dvc.lock`` records a hash that
    nothing can restore, and a queued or ``--temp`` experiment, which runs in a copy
    of the repository, does not find the files (issue 9 item 15).
    """
    path = Path(source)
    if path == paths.RAW_SYNTHETIC:
        return None
    for folder in (path, *path.parents):
        if folder.name and folder.with_name(folder.name + ".dvc").is_file():
            return None
    return (
        f"{source} is not versioned: run `dvc add {source}` and commit {source}.dvc "
        "(queued and --temp experiments cannot see untracked files)"
    )


def run(params: Params) -> None:
    """Ingest ``params.data.source`` and write the interim tables, metrics and reports."""
    started = time.perf_counter()
    source = params.data.source
    log.info("ingesting the dump at %s", source)
    warning = unversioned_source(source)
    if warning:
        log.warning(warning)
    # Sessions go from DuckDB straight to their file (ten million rows never
    # become one pandas frame); the other tables come back as frames.
    result = ingest_dump(
        source,
        write={t: INTERIM_FILES[t] for t in BIG_TABLES},
        gap_min_share=params.data.gap_min_share,
        check_weeks=lambda weeks: check_dump_length(weeks, params, source),
    )
    result.quality["source"] = source

    written: set[Path] = set(result.written.values())
    for table, target in INTERIM_FILES.items():
        if table not in result.written:
            write_parquet(target, result.tables[table])
            written.add(target)
    for table, sample in result.samples.items():
        write_csv(sample_path(table), sample)
        written.add(sample_path(table))
    write_text(SUMMARY, result.summary)
    written.add(SUMMARY)
    write_json(paths.DATA_QUALITY, result.quality)
    for folder in (paths.INTERIM, paths.DATA_QUALITY_REPORTS):
        for path in remove_stale(folder, written):
            log.info("removed stale output %s", path)

    sessions = result.quality["sessions"]
    window = result.quality["window"]
    log.info(
        "ingest done in %.1fs: %d of %d session events kept, %d complete weeks (%s .. %s)",
        time.perf_counter() - started,
        sessions["rows_kept"],
        sessions["rows_read"],
        window["complete_weeks"],
        window["first_complete_week"],
        window["last_complete_week"],
    )
