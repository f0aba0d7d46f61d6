"""``dvc params diff`` and ``dvc metrics diff`` as Markdown, for the PR report.

These run the DVC command line (the same DVC that is in ``.venv``) rather than
re-implementing its diff, so the report shows exactly what a developer gets from
typing the command. Both work without a DVC remote: params.yaml and the metrics
JSON files are in git. A DVC failure does not sink the whole report: the section
says what failed and the rest (headline tables, playlists, plots) still renders.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

KINDS = ("params", "metrics")


@dataclass(frozen=True)
class DvcDiff:
    """One ``dvc <kind> diff`` result: its Markdown table, or the error DVC printed."""

    kind: str
    markdown: str
    error: str | None = None

    @property
    def empty(self) -> bool:
        """No change: DVC prints nothing, or (some versions) a header with no rows."""
        rows = [ln for ln in self.markdown.splitlines() if ln.lstrip().startswith("|")]
        return self.error is None and len(rows) <= 2


def dvc_diff(kind: str, rev: str, cwd: Path, precision: int = 4) -> DvcDiff:
    """Run ``dvc <kind> diff REV --md`` in ``cwd`` (workspace vs ``rev``)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    cmd = [sys.executable, "-m", "dvc", kind, "diff", rev, "--md"]
    if kind == "metrics":
        cmd += ["--precision", str(precision)]
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
        return DvcDiff(kind, "", lines[-1] if lines else f"exit status {out.returncode}")
    return DvcDiff(kind, out.stdout.strip())
