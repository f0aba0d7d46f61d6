"""Stage ``validate``: the whole of params.yaml and the data source, before any stage runs.

Every other stage depends on this stage's one output, so ``dvc repro`` and
``dvc exp run`` stop here, with one line, before DVC removes any other stage's
outputs (DVC removes a stage's outputs just before running it). Checked:

- every param (:func:`pozytywka.config.load_params`, run by the console script);
- ``data.source``: the synthetic dump (its ``data.synthetic.weeks``, and a
  ``start_date`` that is a Monday), or a folder
  holding the five dump files (:func:`pozytywka.ingest.read.locate_dump`);
- the dump is long enough for every product (:func:`pozytywka.checks.check_dump_length`):
  exactly for the synthetic dump; for a real dump when ``ingest`` has already
  counted its complete weeks (``metrics/data_quality.json`` of the same source).
  A new real dump is measured by ``ingest`` itself, which stops before writing
  anything (its outputs are ``persist: true``, so DVC keeps them).

The output, ``reports/checks/validated.json``, is the same bytes for every valid
params file (it names what was checked, not the values), so a param change reruns
only the stages that read that param; DVC keeps it when this stage fails
(``persist: true``), and it is written only on success.
"""

from __future__ import annotations

import dataclasses
import logging

from .. import paths
from ..checks import check_dump_length, recorded_complete_weeks
from ..config import Params
from ..engine import check_available
from ..ingest.read import locate_dump
from ..io import write_json
from ..synthetic.world import _parse_start as parse_start_date

log = logging.getLogger(__name__)

VALIDATED = paths.REPORTS / "checks" / "validated.json"


def validate(params: Params) -> str:
    """Run the checks; returns what was checked of the dump (a line for the log)."""
    check_available(params)  # engine: spark needs pyspark and Java
    source = params.data.source
    if paths.RAW_SYNTHETIC.as_posix() == source.rstrip("/"):
        parse_start_date(params.data.synthetic.start_date)  # the generator's own check
        weeks = params.data.synthetic.weeks
        check_dump_length(weeks, params, f"the synthetic dump (data.synthetic.weeks {weeks})")
        return f"the synthetic dump: {weeks} weeks"
    locate_dump(source)
    weeks = recorded_complete_weeks(paths.DATA_QUALITY, source)
    if weeks is None:
        return f"{source}: a new dump (ingest counts its weeks)"
    check_dump_length(weeks, params, source)
    return f"{source}: {weeks} complete weeks"


def run(params: Params) -> None:
    checked = validate(params)
    log.info("params.yaml valid; data.source %s", checked)
    write_json(
        VALIDATED,
        {
            "params": "valid",
            "sections": [f.name for f in dataclasses.fields(params)],
        },
    )
