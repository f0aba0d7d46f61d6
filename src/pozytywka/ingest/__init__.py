"""Ingest: a Pozytywka dump (any edition, any dirt) into typed interim tables.

- :mod:`.read` finds the five files and reads every line into DuckDB as text;
- :mod:`.clean` normalises, repairs or drops, table by table, in SQL;
- :mod:`.schemas` holds the input keys and the pandera schemas of the output;
- :mod:`.quality` accounts for every row and samples the dropped ones;
- :mod:`.pipeline` ties them together in :func:`ingest_dump`.
"""

from .pipeline import IngestResult, ingest_dump

__all__ = ["IngestResult", "ingest_dump"]
