"""Run one command as a child process and measure its wall time and peak memory.

Why a subprocess per stage: it is how DVC runs stages (so interpreter start-up
and imports are part of the cost a user waits for), and the kernel then reports
the peak resident set size of exactly that process and what it waited for
(``os.wait4``'s ``ru_maxrss``) with no sampling and no extra dependency.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import PozytywkaError


@dataclass(frozen=True)
class Measurement:
    """What one run cost: wall seconds, CPU seconds (user + system), peak RSS in MB."""

    seconds: float
    cpu_seconds: float
    peak_rss_mb: float

    def as_dict(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in asdict(self).items()}


def maxrss_mb(ru_maxrss: int) -> float:
    """``ru_maxrss`` in MB: the kernel reports KiB on Linux, bytes on macOS."""
    return ru_maxrss / (1024 * 1024) if sys.platform == "darwin" else ru_maxrss / 1024


def run_measured(
    args: Sequence[str],
    cwd: str | os.PathLike[str],
    log_path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    what: str | None = None,
) -> Measurement:
    """Run ``args`` in ``cwd`` with output to ``log_path``; raise if it fails.

    A failing command raises :class:`PozytywkaError` naming the log and quoting
    its last lines, so ``make bench`` stops with the reason, not a traceback.
    """
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(args), cwd=cwd, env=dict(env) if env is not None else None, stdout=log, stderr=log
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)  # Popen must not wait again
    if proc.returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
        raise PozytywkaError(
            f"{what or ' '.join(args)} exited with {proc.returncode} (log: {log_path}): "
            + " | ".join(tail)
        )
    return Measurement(
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=maxrss_mb(usage.ru_maxrss),
    )
