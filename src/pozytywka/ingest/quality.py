"""The row account: every input row is either kept or dropped for one named reason.

Per table, ``rows_read`` counts the non-blank lines of the file (malformed ones
included), and ``rows_read == rows_kept + rows_dropped`` always holds (checked
here: a mismatch is a bug). ``repaired`` counts values fixed in *kept* rows, by
rule (a row may be repaired by several rules); ``flagged`` counts kept rows worth
a look (an unknown event type, an event whose track is not in ``tracks``), with
the conditions in :data:`.clean.FLAGS`. Every
known reason and rule is listed, zeros included, so ``dvc metrics diff`` compares
the same keys run after run.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pandas as pd

from ..gaps import describe
from ..weeks import complete_weeks
from .clean import DROP_REASONS, FLAGS
from .read import RawStats

#: Dropped rows kept per table and reason for a person to inspect.
SAMPLE_PER_REASON = 20


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [row[0] for row in con.execute(f"DESCRIBE rows_{table}").fetchall()]


def account(con: duckdb.DuckDBPyConnection, table: str, raw: RawStats) -> dict[str, Any]:
    """The account of one table from ``rows_<table>`` (see :mod:`.clean`)."""
    reps = [c for c in _columns(con, table) if c.startswith("rep_")]
    flags = FLAGS[table]
    dropped = dict.fromkeys(DROP_REASONS[table], 0)
    for reason, n in con.execute(
        f"SELECT drop_reason, count(*) FROM rows_{table} WHERE drop_reason IS NOT NULL GROUP BY 1"
    ).fetchall():
        if reason not in dropped:
            raise AssertionError(f"{table}: drop reason {reason!r} not declared in DROP_REASONS")
        dropped[reason] = int(n)
    aggregates = ", ".join(
        ["count(*)"]
        + [f'coalesce(sum("{c}"), 0)' for c in reps]
        + [f"count(*) FILTER (WHERE {cond})" for cond in flags.values()]
    )
    kept, *values = con.execute(
        f"SELECT {aggregates} FROM rows_{table} WHERE drop_reason IS NULL"
    ).fetchall()[0]
    rows_dropped = sum(dropped.values())
    if kept + rows_dropped != raw.lines:
        raise AssertionError(
            f"{table}: {raw.lines} rows read but {kept} kept + {rows_dropped} dropped"
        )
    return {
        "file": raw.file,
        "rows_read": int(raw.lines),
        "rows_kept": int(kept),
        "rows_dropped": int(rows_dropped),
        "dropped": dropped,
        "repaired": {c[4:]: int(v) for c, v in zip(reps, values[: len(reps)], strict=True)},
        "flagged": {name: int(v) for name, v in zip(flags, values[len(reps) :], strict=True)},
    }


def dropped_sample(con: duckdb.DuckDBPyConnection, table: str, columns: list[str]) -> pd.DataFrame:
    """Up to :data:`SAMPLE_PER_REASON` dropped rows per reason, first lines first.

    Columns: ``reason``, ``row_number`` (the line in the file), ``line`` (the
    line's text, shortened; empty for duplicates, which equal a kept row), then
    the row's normalised values in the interim table's columns.
    """
    cols = ", ".join(f'"{c}"' for c in columns if c != "row_number")
    return con.execute(f"""
        SELECT drop_reason AS reason, row_number, line, {cols}
        FROM rows_{table}
        WHERE drop_reason IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY drop_reason ORDER BY row_number)
            <= {SAMPLE_PER_REASON}
        ORDER BY reason, row_number
    """).df()


def time_window(first: pd.Timestamp | None, last: pd.Timestamp | None) -> dict[str, Any]:
    """First and last kept event and the complete ISO weeks between them.

    Whether that is enough weeks to train and evaluate is for the later stages
    to say; ingest only reports it.
    """
    if first is None or last is None or pd.isna(first) or pd.isna(last):
        return {
            "first_event": None,
            "last_event": None,
            "complete_weeks": 0,
            "first_complete_week": None,
            "last_complete_week": None,
        }
    weeks = complete_weeks(pd.Timestamp(first), pd.Timestamp(last))
    return {
        "first_event": pd.Timestamp(first).isoformat(),
        "last_event": pd.Timestamp(last).isoformat(),
        "complete_weeks": len(weeks),
        "first_complete_week": weeks[0].date().isoformat() if weeks else None,
        "last_complete_week": weeks[-1].date().isoformat() if weeks else None,
    }


def summary_markdown(source: str, quality: dict[str, Any], tables: tuple[str, ...]) -> str:
    """A short human report of the account (``reports/data_quality/summary.md``)."""
    lines = [
        "# Data quality",
        "",
        f"Dump: `{source}`. Every input row is kept or dropped for one reason "
        "(rows read = kept + dropped); repairs count values fixed in kept rows.",
        "",
        "| table | file | read | kept | dropped | repaired values | flagged rows |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for table in tables:
        q = quality[table]
        lines.append(
            f"| {table} | `{q['file']}` | {q['rows_read']} | {q['rows_kept']} | "
            f"{q['rows_dropped']} | {sum(q['repaired'].values())} | "
            f"{sum(q['flagged'].values())} |"
        )
    lines += ["", "## Dropped, repaired and flagged (non-zero only)", ""]
    for table in tables:
        q = quality[table]
        parts = [
            f"{kind} {name}: {n}"
            for kind in ("dropped", "repaired", "flagged")
            for name, n in sorted(q[kind].items())
            if n
        ]
        lines.append(f"- **{table}**: " + ("; ".join(parts) if parts else "nothing to report"))
        if q["rows_dropped"]:
            lines.append(f"  (sample: `{table}_dropped_sample.csv`)")
    w = quality["window"]
    lines += [
        "",
        "## Time window",
        "",
        f"Events from {w['first_event']} to {w['last_event']} (UTC); "
        f"{w['complete_weeks']} complete ISO weeks"
        + (
            f", {w['first_complete_week']} to {w['last_complete_week']}."
            if w["complete_weeks"]
            else "."
        ),
        "",
    ]
    if "gaps" in quality:
        lines += [f"Gaps in the log: {describe(quality['gaps'])}.", ""]
    return "\n".join(lines)
