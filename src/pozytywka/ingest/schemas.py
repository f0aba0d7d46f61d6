"""What ingest reads (keys per dump file) and what it promises (the interim tables).

The input side is deliberately loose: a dump file is read by key name, extra keys
are ignored, optional keys may be absent (their column is null), and only the
``required`` keys must carry a value in at least one row. The output side is
strict: each interim table is checked against a pandera schema that is the
executable form of the "Interim tables" section of ``docs/contracts.md``, so a
later stage can rely on types, nullability, uniqueness and value ranges. A table
too big to hold in pandas (sessions: ten million rows) is checked against the
same schema inside DuckDB instead (:func:`validate_duckdb`).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow

from ..dump_format import AUDIO_FEATURES


@contextlib.contextmanager
def _quiet_pyspark() -> Iterator[None]:
    """pandera imports pyspark.pandas (on import and on first validation) whenever
    pyspark is installed (it is, for the Spark test), and pyspark warns about pandas 3.
    Nothing here uses pyspark.pandas: keep that warning out of every ingest run."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
        yield


with _quiet_pyspark():
    import pandera.errors
    import pandera.pandas as pa

#: Plausible range (inclusive) of each numeric track column; values outside are
#: nulled and counted as ``<column>_implausible``. Tempo 0 and loudness above
#: 0 dB are the classic broken values; a track longer than 30 minutes is treated
#: as a broken duration rather than a real song (real dumps carry hour-long ones).
PLAUSIBLE: dict[str, tuple[float, float]] = {
    "popularity": (0.0, 100.0),
    "duration_ms": (1_000.0, 1_800_000.0),
    "danceability": (0.0, 1.0),
    "energy": (0.0, 1.0),
    "key": (0.0, 11.0),
    "loudness": (-60.0, 0.0),
    "speechiness": (0.0, 1.0),
    "acousticness": (0.0, 1.0),
    "instrumentalness": (0.0, 1.0),
    "liveness": (0.0, 1.0),
    "valence": (0.0, 1.0),
    "tempo": (1.0, 300.0),
}

#: Event types of the format (DESIGN §3), in lower snake case; others are kept
#: (in lower snake case) and flagged. ``buy_premium`` (a user bought premium)
#: is written by several editions; no stage uses it yet.
KNOWN_EVENTS: tuple[str, ...] = ("play", "skip", "like", "advertisement", "buy_premium")
#: Events that are about a track: without a track id they are useless and dropped.
TRACK_EVENTS: tuple[str, ...] = ("play", "skip", "like")
RELEASE_PRECISIONS: tuple[str, ...] = ("year", "month", "day")


@dataclass(frozen=True)
class InputSpec:
    """The keys ingest reads from one dump file.

    ``required`` keys must have a value in at least one row, or the dump is
    rejected with one line naming the file and the key (a different edition's
    key name is the usual cause, and guessing would silently produce nonsense).
    """

    table: str
    keys: tuple[str, ...]
    required: tuple[str, ...]


INPUTS: dict[str, InputSpec] = {
    spec.table: spec
    for spec in (
        InputSpec("artists", ("id", "name", "genres"), required=("id", "genres")),
        InputSpec(
            "tracks",
            ("id", "name", "popularity", "duration_ms", "explicit", "id_artist", "release_date")
            + AUDIO_FEATURES,
            required=("id", "id_artist"),
        ),
        InputSpec(
            "users",
            ("user_id", "name", "city", "street", "favourite_genres", "premium_user"),
            required=("user_id",),
        ),
        InputSpec(
            "sessions",
            ("session_id", "timestamp", "user_id", "track_id", "event_type"),
            required=("session_id", "timestamp", "user_id", "track_id", "event_type"),
        ),
        InputSpec(
            "track_storage",
            ("track_id", "storage_class", "daily_cost"),
            required=("track_id", "storage_class"),
        ),
    )
}

# --------------------------------------------------------------------------- output


def _is_string_list(value: object) -> bool:
    return isinstance(value, (list, np.ndarray)) and all(
        isinstance(v, str) and v == v.strip().lower() and v != "" for v in value
    )


_GENRE_LIST = pa.Check(
    lambda s: s.map(_is_string_list),
    element_wise=False,
    error="must be a list of lower-cased, trimmed, non-empty strings",
)


def _text(nullable: bool = True, **kwargs: object) -> pa.Column:
    return pa.Column(str, nullable=nullable, **kwargs)


def _float(column: str | None = None) -> pa.Column:
    checks = []
    if column in PLAUSIBLE:
        lo, hi = PLAUSIBLE[column]
        checks.append(pa.Check.in_range(lo, hi))
    return pa.Column("float64", checks=checks, nullable=True)


def _lower_case(series: pd.Series) -> bool:
    values = series.dropna().unique()
    return all(v == v.lower() and v == v.strip() and v != "" for v in values)


_LOWER = pa.Check(_lower_case, error="must be lower-cased and trimmed")


def _track_events_have_tracks(frame: pd.DataFrame) -> pd.Series:
    return ~(frame["event_type"].isin(TRACK_EVENTS) & frame["track_id"].isna())


SCHEMAS: dict[str, pa.DataFrameSchema] = {
    "artists": pa.DataFrameSchema(
        {
            "artist_id": _text(nullable=False, unique=True),
            "name": _text(),
            "genres": pa.Column(object, checks=_GENRE_LIST, nullable=False),
        },
        strict=True,
        ordered=True,
    ),
    "tracks": pa.DataFrameSchema(
        {
            "track_id": _text(nullable=False, unique=True),
            "name": _text(),
            "artist_id": _text(),
            "popularity": _float("popularity"),
            "duration_ms": _float("duration_ms"),
            "explicit": pa.Column("Int8", checks=pa.Check.isin([0, 1]), nullable=True),
            "release_date": pa.Column("datetime64[us]", nullable=True),
            "release_precision": _text(checks=pa.Check.isin(list(RELEASE_PRECISIONS))),
            **{name: _float(name) for name in AUDIO_FEATURES},
        },
        strict=True,
        ordered=True,
    ),
    "track_genres": pa.DataFrameSchema(
        {
            "track_id": _text(nullable=False),
            "genre": _text(nullable=False, checks=_LOWER),
        },
        unique=["track_id", "genre"],
        strict=True,
        ordered=True,
    ),
    "users": pa.DataFrameSchema(
        {
            "user_id": _text(nullable=False, unique=True),
            "name": _text(),
            "city": _text(),
            "street": _text(),
            "favourite_genres": pa.Column(object, checks=_GENRE_LIST, nullable=False),
            "premium_user": pa.Column(bool, nullable=False),
        },
        strict=True,
        ordered=True,
    ),
    "sessions": pa.DataFrameSchema(
        {
            "session_id": _text(nullable=False),
            "timestamp": pa.Column("datetime64[us]", nullable=False),
            "user_id": _text(nullable=False),
            "track_id": _text(),
            "event_type": _text(nullable=False, checks=_LOWER),
            "row_number": pa.Column("int64", nullable=False, unique=True),
        },
        checks=pa.Check(_track_events_have_tracks, error="play/skip/like events need a track_id"),
        strict=True,
        ordered=True,
    ),
    "track_storage": pa.DataFrameSchema(
        {
            "track_id": _text(nullable=False, unique=True),
            "storage_class": _text(checks=_LOWER),
            "daily_cost": pa.Column("float64", checks=pa.Check.ge(0), nullable=True),
        },
        strict=True,
        ordered=True,
    ),
}

#: Interim tables in the order they are written (and listed in reports).
INTERIM_TABLES: tuple[str, ...] = tuple(SCHEMAS)


def validate(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Check one interim table against its contract; a failure is a bug in ingest.

    Ingest's own cleaning must make every table valid whatever the dump holds, so
    a schema error here is raised as pandera's exception (with its traceback),
    not as a user error.
    """
    with _quiet_pyspark():
        return SCHEMAS[table].validate(frame, lazy=True)


def to_pandas(table: pyarrow.Table) -> pd.DataFrame:
    """Arrow (from DuckDB) to pandas with the contract's dtypes (nullable Int8 stays Int8)."""
    return table.to_pandas(types_mapper={pyarrow.int8(): pd.Int8Dtype()}.get)


#: Dataframe-wide checks of :data:`SCHEMAS` as DuckDB SQL, by the check's error
#: message: the condition a row that fails the check meets.
SQL_CHECKS: dict[str, dict[str, str]] = {
    "sessions": {
        "play/skip/like events need a track_id": "event_type IN ("
        + ", ".join(f"'{e}'" for e in TRACK_EVENTS)
        + ") AND track_id IS NULL",
    },
}


def _fail(table: str, message: str) -> None:
    raise pandera.errors.SchemaError(SCHEMAS[table], None, f"{table}: {message}")


def validate_duckdb(con: duckdb.DuckDBPyConnection, table: str, relation: str) -> None:
    """Check the rows of the query ``relation`` against ``SCHEMAS[table]``, inside DuckDB.

    The same rules as :func:`validate`, without the table in pandas: names, order
    and dtypes are checked by pandera on the query's first row converted as the
    table would be (:func:`to_pandas`); not-null, unique and the dataframe-wide
    checks (:data:`SQL_CHECKS`) in one SQL scan; each column's own checks (all
    element-wise, like ``isin`` or lower-case) by pandera on the column's
    distinct values. A failure raises :class:`pandera.errors.SchemaError`: like
    in :func:`validate`, it is a bug in ingest, not bad input.
    """
    schema = SCHEMAS[table]
    head = to_pandas(con.sql(f"SELECT * FROM ({relation}) LIMIT 1").to_arrow_table())
    _pandera(table, schema, head)
    aggregates: dict[str, str] = {}
    for name, column in schema.columns.items():
        q = f'"{name}"'
        if not column.nullable:
            is_na = f"{q} IS NULL"
            if pd.api.types.is_float_dtype(head[name].dtype):
                is_na += f" OR isnan({q})"
            aggregates[f"{name} has nulls"] = f"count(*) FILTER (WHERE {is_na})"
        if column.unique:
            aggregates[f"{name} has duplicates"] = (
                f"count(*) - count(DISTINCT {q}) - (count(*) > count({q}))::INT"
            )
    if schema.unique:
        key = ", ".join(f'"{c}"' for c in schema.unique)
        aggregates[f"({key}) has duplicates"] = f"count(*) - count(DISTINCT ({key}))"
    sql_checks = SQL_CHECKS.get(table, {})
    for check in schema.checks:
        if check.error not in sql_checks:
            raise NotImplementedError(f"{table}: no SQL for the check {check.error!r}")
        aggregates[check.error] = f"count(*) FILTER (WHERE {sql_checks[check.error]})"
    if aggregates:
        counts = con.execute(
            f"SELECT {', '.join(aggregates.values())} FROM ({relation})"
        ).fetchall()[0]
        for what, n in zip(aggregates, counts, strict=True):
            if n:
                _fail(table, f"{what} ({n} rows)")
    for name, column in schema.columns.items():
        if column.checks:
            values = to_pandas(
                con.sql(f'SELECT DISTINCT "{name}" FROM ({relation})').to_arrow_table()
            )
            _pandera(table, pa.DataFrameSchema({name: column}), values)


def _pandera(table: str, schema: pa.DataFrameSchema, frame: pd.DataFrame) -> None:
    try:
        with _quiet_pyspark():
            schema.validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        _fail(table, str(exc))
