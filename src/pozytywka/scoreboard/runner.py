"""Run the pipeline on one real dump in a throwaway copy of the project.

The scoreboard must measure what ``dvc repro`` does for a user, with the same
stage code: each dump gets a copy of the project's files (git-tracked and
untracked-but-not-ignored, as in the working tree), a fresh git repository, the
dump copied to ``data/raw/<name>`` and ``data.source`` pointed at it; then
``dvc repro`` runs there. The project itself is never touched: a crash on one
dump costs that dump's row, nothing else.

Wall time and the peak resident memory of the largest stage process are
measured by a small wrapper process (``resource.getrusage(RUSAGE_CHILDREN)``
counts the descendants it waited for), so each dump's figure is its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import PozytywkaError

#: The tail of the log kept when a run fails (the traceback, the one-line error).
TAIL_LINES = 25

_WRAPPER = (
    "import json, resource, subprocess, sys, time\n"
    "t = time.perf_counter()\n"
    "rc = subprocess.call(sys.argv[1:])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "print(json.dumps({'rc': rc, 'seconds': time.perf_counter() - t, 'peak_kib': peak}),"
    " file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


@dataclass(frozen=True)
class RunResult:
    """One ``dvc repro`` of one dump: exit code, wall seconds, peak RSS, where, log tail."""

    dump: str
    rc: int
    seconds: float
    peak_gib: float
    workdir: Path
    stages_run: list[str]
    error: str  # the last error line when rc != 0, "" otherwise


#: Results of the committed (synthetic) run: left out of a copy, so a stage that does
#: not run on a dump can never pass the synthetic figures off as the dump's.
RESULTS = ("metrics/", "reports/", "dvc.lock")


def project_files(root: Path) -> list[str]:
    """The project's files as a user's clone holds them (tracked and untracked, not
    ignored), without the committed results (:data:`RESULTS`)."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=root,
        capture_output=True,
        check=True,
    ).stdout.decode()
    files = (p for p in out.split("\0") if p and not p.startswith(RESULTS))
    return sorted(p for p in files if (root / p).is_file())


def set_source(params_text: str, source: str) -> str:
    """``params.yaml`` text with ``data.source`` set to ``source`` (the first ``source:``
    line of the ``data`` section; the file keeps its comments and layout)."""
    new, n = re.subn(r"(?m)^(  source: ).*$", lambda m: m.group(1) + source, params_text, count=1)
    if n != 1:
        raise PozytywkaError("params.yaml has no `data.source` line to point at the dump")
    return new


def prepare(root: Path, dump: Path, workdir: Path, name: str) -> Path:
    """A throwaway copy of the project at ``workdir/name`` reading the dump folder ``dump``."""
    repo = workdir / name
    if repo.exists():
        shutil.rmtree(repo)
    repo.mkdir(parents=True)
    for rel in project_files(root):
        target = repo / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, target)
    data = repo / "data" / "raw" / name
    data.mkdir(parents=True, exist_ok=True)
    for f in sorted(dump.iterdir()):
        if f.is_file():
            shutil.copy2(f, data / f.name)
    params = repo / "params.yaml"
    params.write_text(set_source(params.read_text(encoding="utf-8"), f"data/raw/{name}"))
    env = {**os.environ, "GIT_AUTHOR_NAME": "scoreboard", "GIT_AUTHOR_EMAIL": "sb@localhost"}
    env |= {"GIT_COMMITTER_NAME": "scoreboard", "GIT_COMMITTER_EMAIL": "sb@localhost"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"], ["git", "commit", "-qm", name]):
        subprocess.run(cmd, cwd=repo, check=True, env=env, capture_output=True)
    return repo


def stages_in_log(text: str) -> list[str]:
    """The stages ``dvc repro`` ran, in order, from its log."""
    return re.findall(r"Running stage '([^']+)'", text)


def last_error(text: str) -> str:
    """The line that says why a run stopped: ``pozytywka X: error: ...``, a Python
    exception line, or DVC's ``ERROR:`` line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for pattern in (r"^pozytywka \w+: error: ", r"^\w+(Error|Exception)\b.*: ", r"^ERROR: "):
        hits = [ln for ln in lines if re.search(pattern, ln)]
        if hits:
            return hits[-1][:400]
    return lines[-1][:400] if lines else ""


def repro(repo: Path, log_path: Path, progress=None) -> RunResult:
    """``dvc repro`` in ``repo`` (the project's virtualenv on PATH), its log to ``log_path``.

    ``progress`` (optional) is called with each stage name as DVC starts it.
    """
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env["PYTHONHASHSEED"] = "0"
    cmd = [sys.executable, "-c", _WRAPPER, str(bindir / "dvc"), "repro"]
    started = time.perf_counter()
    stats: dict = {}
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            cmd, cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("{") and '"peak_kib"' in line:
                stats = json.loads(line)
                continue
            log.write(line)
            m = re.match(r"Running stage '([^']+)'", line)
            if m and progress is not None:
                progress(m.group(1))
        rc = proc.wait()
    text = log_path.read_text(encoding="utf-8")
    return RunResult(
        dump=repo.name,
        rc=rc,
        seconds=float(stats.get("seconds", time.perf_counter() - started)),
        peak_gib=float(stats.get("peak_kib", 0)) / 2**20,
        workdir=repo,
        stages_run=stages_in_log(text),
        error="" if rc == 0 else last_error(text),
    )
