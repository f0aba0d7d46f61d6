"""Pin the numeric kernels, so a stage writes the same bytes on every x86-64 machine.

NumPy picks SIMD code paths at import time from what the CPU offers (its
``X86_V4`` / AVX-512 loops round some functions differently from the AVX2 ones),
and OpenBLAS picks a kernel per CPU model (``SkylakeX``, ``Haswell``, ``Zen`` ...)
and splits work over its threads. Left alone, a stage run on an AVX-512 machine
writes other bytes than the same stage on an AVX2 one: seen here, the playlist
backtest's predictions differed between two machines of the same kind until
both were pinned. Every pipeline stage therefore runs with:

- ``NPY_DISABLE_CPU_FEATURES``: NumPy's dispatch capped at ``X86_V3`` (AVX2 + FMA,
  Haswell and later: every x86-64 server CPU of the last decade);
- ``OPENBLAS_CORETYPE=Haswell``: the same OpenBLAS kernel whatever the CPU model;
- ``OPENBLAS_NUM_THREADS=1``: BLAS / LAPACK results independent of the core count.

Sources: NumPy's "CPU build options" (runtime dispatch, ``NPY_DISABLE_CPU_FEATURES``)
and OpenBLAS's README (``OPENBLAS_CORETYPE`` for DYNAMIC_ARCH builds). These must be
set before NumPy (and the OpenBLAS it loads) is imported: :func:`pin_for_stage`
is called by the console script before a stage imports anything numeric.
On a CPU without AVX2, or not x86-64, nothing is pinned and a warning says that
outputs may differ from the committed ``dvc.lock``.
"""

from __future__ import annotations

import logging
import os
import platform
import sys
from collections.abc import MutableMapping
from pathlib import Path

log = logging.getLogger(__name__)

# NumPy 2.x feature groups above X86_V3 (names unknown to this NumPy are ignored by it).
NUMPY_DISABLED = "X86_V4 AVX512_ICL AVX512_SPR"
OPENBLAS_CORE = "Haswell"
NEEDED_FLAGS = frozenset({"avx2", "fma", "bmi2"})


def cpu_flags(cpuinfo: str | None = None) -> frozenset[str]:
    """The CPU's feature flags from ``/proc/cpuinfo`` text (empty when unknown)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return frozenset()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def kernel_env(machine: str, flags: frozenset[str]) -> dict[str, str]:
    """The environment that pins the kernels on a CPU (``platform.machine()``, its flags).

    Empty when the CPU cannot run the pinned level (not x86-64, or no AVX2 / FMA / BMI2).
    """
    if machine not in ("x86_64", "AMD64") or not flags >= NEEDED_FLAGS:
        return {}
    return {
        "NPY_DISABLE_CPU_FEATURES": NUMPY_DISABLED,
        "OPENBLAS_CORETYPE": OPENBLAS_CORE,
        "OPENBLAS_NUM_THREADS": "1",
    }


def pin_for_stage(environ: MutableMapping[str, str] = os.environ) -> dict[str, str]:
    """Set :func:`kernel_env` in ``environ`` (this process and its children); returns it.

    Call before NumPy is imported; if it already is, the variables still reach child
    processes, and a warning says this process itself is not pinned.
    """
    env = kernel_env(platform.machine(), cpu_flags())
    if not env:
        log.warning(
            "this CPU (%s) lacks AVX2/FMA: numeric kernels are not pinned, and outputs "
            "may differ in the last bits from the committed dvc.lock",
            platform.machine(),
        )
        return {}
    environ.update(env)
    if "numpy" in sys.modules:
        log.warning("NumPy was imported before the kernels were pinned: this process is not")
    return env
