"""Reading files as they were at a git revision (the base of a pull request).

Metrics, plot data and playlists are committed to git (``cache: false`` in dvc.yaml),
so ``git show REV:path`` is all the PR report needs: no DVC remote, no credentials.
The one thing that goes wrong in CI is history: a shallow clone (the default of
``actions/checkout``) lacks the base commit, so an unknown revision is explained
in one line that says how to fetch it, instead of a git traceback.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import PozytywkaError


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    except FileNotFoundError as exc:  # git itself is missing
        raise PozytywkaError("git is not installed or not on PATH") from exc


def is_shallow(cwd: Path) -> bool:
    """True in a shallow clone (``actions/checkout`` without ``fetch-depth: 0``)."""
    out = _git(["rev-parse", "--is-shallow-repository"], cwd)
    return out.returncode == 0 and out.stdout.strip() == b"true"


def unshallow_command(rev: str) -> str:
    """A git command that makes ``rev`` resolvable in a shallow clone.

    ``git fetch --unshallow origin HEAD~1`` is rejected (a refspec cannot hold
    ``~``); plain ``git fetch --unshallow origin`` fetches the whole history, which
    holds every relative revision and commit id. A branch (``origin/main`` or
    ``main``) is fetched into the ref the name resolves to, with the history.
    """
    name = rev.split("/", 1)[1] if rev.startswith("origin/") else rev
    relative = any(c in name for c in "~^@:") or name == "HEAD"
    is_sha = len(name) >= 7 and all(c in "0123456789abcdef" for c in name.lower())
    if relative or is_sha:
        return "git fetch --unshallow origin"
    if rev.startswith("origin/"):
        return f"git fetch --unshallow origin {name}:refs/remotes/origin/{name}"
    return f"git fetch --unshallow origin {name}:refs/heads/{name}"


def resolve_revision(rev: str, cwd: Path) -> str:
    """The commit id ``rev`` names, or a PozytywkaError that says how to get it.

    Called before anything else in the report, so DVC never sees a revision git
    does not have (DVC's own message for that is a long traceback-like error).
    """
    inside = _git(["rev-parse", "--is-inside-work-tree"], cwd)
    if inside.returncode != 0:
        raise PozytywkaError(
            f"{cwd} is not inside a git repository; the report compares git revisions"
        )
    out = _git(["rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"], cwd)
    if out.returncode == 0:
        return out.stdout.decode().strip()
    branch = rev.split("/", 1)[1] if rev.startswith("origin/") else rev
    if is_shallow(cwd):
        raise PozytywkaError(
            f"revision {rev!r} is not in this shallow clone: check out with full history "
            f"(actions/checkout `fetch-depth: 0`) or run `{unshallow_command(rev)}`"
        )
    raise PozytywkaError(
        f"unknown git revision {rev!r}: fetch it first (`git fetch origin {branch}`) "
        "or pass a branch, tag or commit that exists locally"
    )


def read_at(rev: str, path: str | Path, cwd: Path) -> bytes | None:
    """The bytes of ``path`` (relative to ``cwd``) at ``rev``; None if it did not exist.

    ``rev`` must already be resolved (see :func:`resolve_revision`), so a failure
    here means the file was not in that commit, e.g. the first PR that adds a stage.
    """
    out = _git(["show", f"{rev}:./{Path(path).as_posix()}"], cwd)
    return out.stdout if out.returncode == 0 else None
