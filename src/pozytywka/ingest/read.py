"""Find a dump's files and read them, line by line, into DuckDB.

Two readers, one result. The exact one reads each file with DuckDB's CSV reader
as one text column per physical line (no delimiter, no quoting), which survives
every real dump: it strips a UTF-8 BOM, accepts CRLF, decompresses ``.gz`` by
extension and runs in parallel. Each line is then parsed with
``json_extract_string`` inside ``try()``: a JSON object by key, a JSON array
(the positional edition) by the table's column order
(:data:`~pozytywka.dump_format.POSITIONAL_COLUMNS`). Anything else, an array of
the wrong length included, becomes one ``malformed_json`` row instead of an
error, so every non-blank line is accounted for, and its text is kept for the
sample. A line that is not valid JSON only because a string holds a lone UTF-16
surrogate escape (``"Song \\ud800"``, a character cut in half by the exporter)
is parsed again with that escape replaced by U+FFFD, the replacement
character: the row is kept and counted as repaired
(``invalid_unicode_replaced``). That parse is several
times slower than DuckDB's native ``read_json``, so every file is first loaded
with the native reader, and only a file on which it lost something (a line came
back all-null: see :func:`needs_line_reader`) is read again line by line; the
values are the same text either way.

All values are read as text (ints, strings and the ``-1`` sentinel alike) and
typed later by the cleaning rules, so mixed-type columns never break the
reader. Blank lines are not rows and are not counted. ``row_number`` follows
the file's order: the physical line number with the exact reader, the n-th
non-blank line with the native one (the same thing when there are no blank
lines); it is for stable ordering and for finding a dropped line.

Built for ten million lines on two cores: the native load numbers the lines by
the ``rowid`` of the table it fills (DuckDB keeps insertion order), not with
``WITH ORDINALITY``, which would make the whole parse single-threaded; the
cleaning rules then run in parallel over that table, and values of columns with
few distinct values (user and track ids, event types) are normalised once per
distinct value and joined back (see ``per_value`` in :func:`read_table`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ..dump_format import DUMP_FILES, POSITIONAL_COLUMNS
from ..errors import PozytywkaError
from .schemas import InputSpec

log = logging.getLogger(__name__)

SUFFIXES: tuple[str, ...] = (".jsonl", ".jsonl.gz")
#: Above this share of malformed lines a file is "mostly garbage": not a dump file.
MAX_MALFORMED_SHARE = 0.5
#: Malformed lines keep at most this many characters for the dropped-rows sample.
BAD_LINE_CHARS = 300


def locate_dump(source: str | Path) -> dict[str, Path]:
    """The five dump files under ``source``: ``{table: path}``, plain or ``.gz`` each.

    A folder that does not exist, holds no JSON-lines file at all, misses one of
    the five files, or holds a file both plain and gzipped is rejected with one
    line naming the folder or file.
    """
    source = Path(source)
    if not source.exists():
        raise PozytywkaError(f"data.source {str(source)!r} does not exist")
    if not source.is_dir():
        raise PozytywkaError(
            f"data.source {str(source)!r} is not a folder (a dump is a folder of .jsonl files)"
        )
    if not any(p.name.endswith(SUFFIXES) for p in source.iterdir()):
        raise PozytywkaError(
            f"{source} is not a Pozytywka dump: it holds no .jsonl or .jsonl.gz files "
            f"(expected {', '.join(f + '.jsonl' for f in DUMP_FILES)})"
        )
    found: dict[str, Path] = {}
    for table in DUMP_FILES:
        candidates = [
            source / f"{table}{s}" for s in SUFFIXES if (source / f"{table}{s}").is_file()
        ]
        if not candidates:
            raise PozytywkaError(
                f"{source / (table + '.jsonl')}: required file is missing "
                f"(neither {table}.jsonl nor {table}.jsonl.gz in {source})"
            )
        if len(candidates) > 1:
            raise PozytywkaError(
                f"{candidates[0]} and {candidates[1].name} both exist: keep only one of them"
            )
        if candidates[0].stat().st_size == 0:
            raise PozytywkaError(f"{candidates[0]}: required file is empty")
        found[table] = candidates[0]
    return found


def _sql_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _lines_sql(path: Path) -> str:
    """A DuckDB table expression yielding (line, ordinality) for each physical line."""
    return (
        f"read_csv({_sql_str(str(path))}, columns={{'line': 'VARCHAR'}}, header=false, "
        r"delim='\0', quote='', escape='', auto_detect=false, strict_mode=false, "
        "null_padding=true, max_line_size=16777216) WITH ORDINALITY"
    )


@dataclass(frozen=True)
class RawStats:
    """What reading one file found, before any cleaning."""

    file: str
    lines: int
    malformed: int


#: A UTF-16 surrogate escape (``\ud800`` to ``\udfff``): valid JSON only as a
#: high-low pair, which is how JSON writes a character outside the BMP.
_SURROGATE = r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}"
_SURROGATE_PAIR = r"\\u([dD][89abAB][0-9a-fA-F]{2})\\u([dD][c-fC-F][0-9a-fA-F]{2})"


def _replace_lone_surrogates_sql(x: str) -> str:
    """SQL: JSON text ``x`` with each lone surrogate escape replaced by ``\\ufffd``.

    Escaped backslashes (``\\\\``) are set aside first (as ``chr(1)``), so
    ``"C:\\\\ud800"`` (a backslash, then the letters ud800) is left alone; valid
    high-low pairs are set aside (``chr(2)`` for their ``\\u``); what is left of
    the surrogate escapes is lone. Lines holding ``chr(1)`` or ``chr(2)``
    (control characters, never valid JSON) are not touched.
    """
    return (
        f"CASE WHEN regexp_matches({x}, '{_SURROGATE}') AND NOT contains({x}, chr(1)) "
        f"AND NOT contains({x}, chr(2)) THEN replace(replace(regexp_replace(regexp_replace("
        f"replace({x}, '\\\\', chr(1)), '{_SURROGATE_PAIR}', "
        r"chr(2) || '\1' || chr(2) || '\2', 'g'), "
        f"'{_SURROGATE}', '\\\\ufffd', 'g'), chr(2), '\\u'), chr(1), '\\\\') END"
    )


def _parse_sql(x: str, table: str, keys: tuple[str, ...]) -> str:
    """SQL: the values of ``keys`` in the JSON line ``x`` as a VARCHAR list, or null.

    An object is read by key; an array by the table's positional column order
    (a key that order lacks is null) and only when it has exactly that many
    items; anything else (not JSON, a scalar, an array of another length) is null.
    """
    paths = "[" + ", ".join(_sql_str(f"$.{key}") for key in keys) + "]"
    order = POSITIONAL_COLUMNS[table]
    positions = (
        "["
        + ", ".join(
            _sql_str(f"$[{order.index(key)}]" if key in order else "$.__absent__") for key in keys
        )
        + "]"
    )
    return (
        f"CASE WHEN ltrim({x}) LIKE '{{%' THEN try(json_extract_string({x}, {paths})) "
        f"WHEN ltrim({x}) LIKE '[%' AND try(json_array_length({x})) = {len(order)} "
        f"THEN try(json_extract_string({x}, {positions})) END"
    )


def parsed_sql(path: Path, table: str, keys: tuple[str, ...]) -> str:
    """A query over the non-blank lines of ``path``: one row per line, values as text.

    Columns: ``row_number`` (1-based line number in the file, blank lines
    included, so a person can find the line), ``ok`` (the line is a JSON
    object, or an array of the table's positional columns), ``unicode_fixed``
    (it parsed only once its lone surrogate escapes were replaced), ``line``
    (its text) and one VARCHAR column per key (null when the key is missing or
    null; lists arrive as JSON text).
    """
    cols = ", ".join(f'j[{i + 1}] AS "{key}"' for i, key in enumerate(keys))
    return f"""
        SELECT row_number, j IS NOT NULL AS ok, j0 IS NULL AND j IS NOT NULL AS unicode_fixed,
               line, {cols}
        FROM (
            SELECT *, CASE WHEN j0 IS NOT NULL THEN j0
                ELSE {_parse_sql(_replace_lone_surrogates_sql("line"), table, keys)} END AS j
            FROM (
                SELECT ordinality::BIGINT AS row_number, line,
                       {_parse_sql("line", table, keys)} AS j0
                FROM {_lines_sql(path)}
            )
        )
        WHERE line IS NOT NULL AND (j IS NOT NULL OR NOT regexp_full_match(line, '\\s*'))
    """


def _json_sql(path: Path, keys: tuple[str, ...]) -> str:
    """DuckDB's native JSON-lines reader: the fast path, exact only on clean files.

    It parses several times faster than ``json_extract_string`` per line, but a
    line it cannot parse (malformed JSON, a UTF-8 BOM on the first line, a line
    that is not an object) comes back as a row of nulls with no text, so such a
    file must take the line-by-line path to be accounted for exactly. Rows come
    in file order, one per non-blank line.
    """
    columns = "{" + ", ".join(f"{_sql_str(k)}: 'VARCHAR'" for k in keys) + "}"
    return (
        f"read_json({_sql_str(str(path))}, format='newline_delimited', columns={columns}, "
        "ignore_errors=true, maximum_object_size=16777216)"
    )


def needs_line_reader(con: duckdb.DuckDBPyConnection, raw: str, keys: tuple[str, ...]) -> bool:
    """Whether the native reader lost information on the file it loaded into ``raw``.

    True when some line came back with every key null: a malformed line, a BOM,
    a non-object, or an object without any known key. Only the line-by-line
    reader tells these apart and keeps the text for the sample.
    """
    all_null = " AND ".join(f'"{key}" IS NULL' for key in keys)
    (n,) = con.execute(f"SELECT count(*) FROM {raw} WHERE {all_null}").fetchall()[0]
    return n > 0


def _load_raw(con: duckdb.DuckDBPyConnection, spec: InputSpec, path: Path) -> str | None:
    """Load ``path`` natively into the temp table ``raw_<table>`` and return a query over it.

    The query has the columns of :func:`parsed_sql`. The native reader fills
    the table in parallel and in file order, so ``rowid + 1`` is the n-th
    non-blank line (what ``WITH ORDINALITY`` gives, which would make the parse
    single-threaded). None when the native reader fails or loses a line: the
    file must then be read line by line.
    """
    raw = f"raw_{spec.table}"
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {raw} AS FROM {_json_sql(path, spec.keys)}")
        exact = needs_line_reader(con, raw, spec.keys)
    except duckdb.Error:
        exact = True
    log.debug("%s: %s reader", path, "line-by-line" if exact else "native JSON")
    if exact:
        con.execute(f"DROP TABLE IF EXISTS {raw}")
        return None
    cols = ", ".join(_q(key) for key in spec.keys)
    return (
        "SELECT rowid + 1 AS row_number, true AS ok, false AS unicode_fixed, "
        f"NULL::VARCHAR AS line, {cols} FROM {raw}"
    )


def _per_value_sql(
    con: duckdb.DuckDBPyConnection,
    spec: InputSpec,
    source: str,
    per_value: Mapping[str, Mapping[str, str]],
    cache: bool,
) -> str:
    """``source`` plus the ``per_value`` columns.

    With ``cache``, each raw key's distinct values are normalised once into the
    temp table ``pv_<table>_<i>`` and joined back; a value missing from it (a
    null) is normalised inline, so the result is the same as evaluating every
    expression on every row, which is what happens without ``cache`` (when
    ``source`` streams from the file and a join would have to buffer it).
    """
    selects, joins = [], []
    for i, (key, exprs) in enumerate(per_value.items()):
        inline = {name: sql.format(x="s." + _q(key)) for name, sql in exprs.items()}
        if not cache:
            selects += [f"{sql} AS {_q(name)}" for name, sql in inline.items()]
            continue
        table = f"pv_{spec.table}_{i}"
        values = ", ".join(f"{sql.format(x='x')} AS {_q(name)}" for name, sql in exprs.items())
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT x, {values} FROM "
            f"(SELECT DISTINCT {_q(key)} AS x FROM ({source}) WHERE {_q(key)} IS NOT NULL)"
        )
        joins.append(f"LEFT JOIN {table} AS c{i} ON s.{_q(key)} = c{i}.x")
        selects += [
            f"CASE WHEN c{i}.x IS NULL THEN {sql} ELSE c{i}.{_q(name)} END AS {_q(name)}"
            for name, sql in inline.items()
        ]
    return f"SELECT s.*, {', '.join(selects)} FROM ({source}) AS s {' '.join(joins)}"


def _q(name: str) -> str:
    return f'"{name}"'


def read_table(
    con: duckdb.DuckDBPyConnection,
    spec: InputSpec,
    path: Path,
    columns: str,
    reason: str,
    keep_line: str,
    required: dict[str, str],
    per_value: Mapping[str, Mapping[str, str]] | None = None,
) -> RawStats:
    """Read and normalise one file into the temp table ``s1_<table>``.

    ``columns`` is the SQL select list turning the raw text columns into
    normalised ones; ``reason`` a CASE over those giving the row's own drop
    reason (``reason0``, null if none); ``keep_line`` a condition under which the
    line's text is kept for the dropped-rows sample (the text of ten million
    good lines is not worth keeping). ``required`` maps each required key to a
    condition on the normalised columns meaning "this row has a usable value".
    ``per_value`` maps a raw key to named SQL expressions of it (``{x}`` stands
    for the value) that ``columns`` may use by name: they are computed once per
    distinct value, which pays on big files for keys with few distinct values.

    Raises :class:`PozytywkaError` when the file cannot be read, has no data
    lines, is mostly not JSON, or has no usable value for a required key.
    """
    try:
        native = _load_raw(con, spec, path)
        source = native if native is not None else parsed_sql(path, spec.table, spec.keys)
        if per_value:
            source = _per_value_sql(con, spec, source, per_value, cache=native is not None)
        con.execute(f"""
            CREATE OR REPLACE TEMP TABLE s1_{spec.table} AS
            SELECT * EXCLUDE (line),
                   CASE WHEN {keep_line} THEN left(line, {BAD_LINE_CHARS}) END AS line
            FROM (
                SELECT *, {reason} AS reason0
                FROM (SELECT row_number, ok, line, {columns},
                      unicode_fixed::INT AS rep_invalid_unicode_replaced
                      FROM ({source}))
            )
        """)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PozytywkaError(f"{path}: cannot be read as JSON lines ({first})") from None
    finally:
        con.execute(f"DROP TABLE IF EXISTS raw_{spec.table}")
        for i in range(len(per_value or ())):
            con.execute(f"DROP TABLE IF EXISTS pv_{spec.table}_{i}")
    counts = ", ".join(f"count(*) FILTER (WHERE ok AND ({required[key]}))" for key in spec.required)
    lines, good, *present = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE ok), {counts} FROM s1_{spec.table}"
    ).fetchall()[0]
    if lines == 0:
        raise PozytywkaError(f"{path}: required file has no data lines")
    malformed = lines - good
    if malformed > MAX_MALFORMED_SHARE * lines:
        raise PozytywkaError(
            f"{path}: {malformed} of {lines} lines are neither JSON objects nor arrays of "
            f"the {len(POSITIONAL_COLUMNS[spec.table])} positional columns "
            f"({', '.join(POSITIONAL_COLUMNS[spec.table])}): is this a Pozytywka dump?"
        )
    for key, n in zip(spec.required, present, strict=True):
        if n == 0:
            raise PozytywkaError(
                f"{path}: required key {key!r} is missing or has no usable value in every row"
                f"{_keys_hint(con, path)}"
            )
    if malformed:
        log.warning("%s: %d of %d lines are malformed (dropped)", path, malformed, lines)
    return RawStats(file=path.name, lines=lines, malformed=malformed)


def _keys_hint(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    """The keys of the first object in the file, to show which edition it is."""
    rows = con.execute(
        f"SELECT json_keys(line) FROM {_lines_sql(path)} "
        "WHERE ltrim(line) LIKE '{%' AND json_valid(line) LIMIT 1"
    ).fetchall()
    row = rows[0] if rows else None
    if not row or not row[0]:
        return ""
    return f" (keys found: {', '.join(row[0])})"
