"""Is the committed ``dvc.lock`` the one ``dvc repro`` produces? (pure comparison)

In CI, ``dvc status`` after ``dvc repro`` is always clean, and before it (with no
remote) every data output is simply missing, so neither says whether the author
committed results that match their code. Comparing the committed lock (``git show
HEAD:dvc.lock``) with the lock a fresh ``dvc repro`` wrote answers it:

* a stage whose command, params or *source* dependencies (code, raw data: anything
  no stage produces) differ was changed without rerunning it: the committed lock,
  metrics and playlists are **stale**; the author should run ``dvc repro`` and commit;
* an output that differs from the committed one while its stage's command, params
  and source dependencies match did not reproduce byte for byte: the pipeline is
  deterministic by construction (docs/reproducibility.md), so this is a failure
  too, naming every such output (``stage: path``). The first ones listed in
  pipeline order are where the difference starts; later ones may only inherit it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LockDrift:
    stale: list[str] = field(default_factory=list)  # "stage: what changed"
    outs_changed: list[str] = field(default_factory=list)  # "stage: path" per output

    @property
    def clean(self) -> bool:
        return not self.stale and not self.outs_changed


def _hashes(entries: list[Mapping[str, Any]] | None) -> dict[str, str | None]:
    return {e["path"]: e.get("md5") or e.get("etag") or e.get("checksum") for e in (entries or [])}


def _produced(path: str, outs: set[str]) -> bool:
    """True when ``path`` is a stage output or inside an output folder."""
    return any(path == o or path.startswith(o.rstrip("/") + "/") for o in outs)


def lock_drift(committed: Mapping[str, Any] | None, fresh: Mapping[str, Any] | None) -> LockDrift:
    """Compare two parsed dvc.lock files (see the module docstring for the rules)."""
    old = (committed or {}).get("stages") or {}
    new = (fresh or {}).get("stages") or {}
    outs = {path for stage in new.values() for path in _hashes(stage.get("outs"))}
    drift = LockDrift()
    for name in sorted(set(old) | set(new)):
        if name not in old:
            drift.stale.append(f"{name}: not in the committed dvc.lock")
            continue
        if name not in new:
            drift.stale.append(f"{name}: in the committed dvc.lock but not produced by dvc repro")
            continue
        a, b = old[name], new[name]
        reasons = []
        if a.get("cmd") != b.get("cmd"):
            reasons.append("command")
        if (a.get("params") or {}) != (b.get("params") or {}):
            changed = sorted(
                key
                for file in set(a.get("params") or {}) | set(b.get("params") or {})
                for key in set((a.get("params") or {}).get(file) or {})
                | set((b.get("params") or {}).get(file) or {})
                if ((a.get("params") or {}).get(file) or {}).get(key)
                != ((b.get("params") or {}).get(file) or {}).get(key)
            )
            reasons.append("params " + ", ".join(changed))
        deps_a, deps_b = _hashes(a.get("deps")), _hashes(b.get("deps"))
        source = sorted(
            p
            for p in set(deps_a) | set(deps_b)
            if deps_a.get(p) != deps_b.get(p) and not _produced(p, outs)
        )
        if source:
            reasons.append("deps " + ", ".join(source))
        if reasons:
            drift.stale.append(f"{name}: " + "; ".join(reasons))
        else:
            outs_a, outs_b = _hashes(a.get("outs")), _hashes(b.get("outs"))
            drift.outs_changed.extend(
                f"{name}: {path}"
                for path in sorted(set(outs_a) | set(outs_b))
                if outs_a.get(path) != outs_b.get(path)
            )
    return drift
