"""What the pipeline published, loaded and checked once when the service starts (DESIGN §9).

Inputs, all under the project root:

- ``reports/playlists/by_model/baseline.json`` (arm A) and ``catboost.json`` (arm B):
  the ``playlists`` stage's documents (DESIGN §6: ``week_start``, ``model``,
  ``playlists[].genre``, ``playlists[].tracks[].track_id/name/artist``);
- ``dvc.lock``: the model versions are the md5 hashes the ``playlists`` stage
  recorded for its model dependencies (``models/baseline.json``,
  ``models/catboost.cbm``), and the hash it recorded for its output
  ``reports/playlists`` (DVC's directory hash, :func:`dvc_dir_md5`) must be the
  one of the files on disk: a published file edited by hand is refused, so one
  model version always serves the same playlists (two processes cannot serve
  different tracks under one version);
- ``params.yaml``: the experiment's ``ab.salt``, ``ab.split``, ``ab.alpha``,
  ``ab.power`` (read with the project's one loader, :func:`pozytywka.config.load_params`).

Anything missing or inconsistent (the two arms published for different weeks, a
document of the wrong model, a model file on disk that is not the one
``dvc.lock`` recorded, so the playlists are stale, a published file that is not
the one the ``playlists`` stage wrote) raises
:class:`~pozytywka.errors.PozytywkaError` with one line ending in
"run dvc repro first". The service never trains or recomputes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import yaml

from .. import paths
from ..config import ABParams, load_params
from ..errors import PozytywkaError

#: The playlist experiment: its key, and which published model each arm serves.
EXPERIMENT_KEY = "playlists"
ARM_MODELS = {"A": "baseline", "B": "catboost"}
#: The model file each arm's version is the hash of (a dependency of the ``playlists`` stage).
MODEL_FILES = {"baseline": paths.BASELINE_MODEL, "catboost": paths.CATBOOST_MODEL}
FIX = "run dvc repro first"


@dataclass(frozen=True)
class Track:
    track_id: str
    name: str | None
    artist: str | None
    position: int  # 1-based, in play order


@dataclass(frozen=True)
class Playlist:
    genre: str
    tracks: tuple[Track, ...]


@dataclass(frozen=True)
class Arm:
    """One arm's published output: the model, its version (md5 from dvc.lock), its playlists."""

    arm: str
    model: str
    model_version: str
    playlists: tuple[Playlist, ...]

    @property
    def track_ids(self) -> frozenset[str]:
        return frozenset(t.track_id for p in self.playlists for t in p.tracks)

    @cached_property
    def content_md5(self) -> str:
        """The md5 of what the arm serves: each playlist's genre and its track ids in
        play order (JSON ``[[genre, [track_id, ...]], ...]``). Two arms with the same
        model version but another ``content_md5`` serve different playlists."""
        served = [[p.genre, [t.track_id for t in p.tracks]] for p in self.playlists]
        text = json.dumps(served, separators=(",", ":"), ensure_ascii=False)
        return hashlib.md5(text.encode("utf-8")).hexdigest()

    @cached_property
    def playlists_json(self) -> str:
        """The ``playlists`` array of a ``GET /v1/playlists`` answer
        (:class:`~pozytywka.serve.schemas.PlaylistOut`), as JSON text: the same for every
        listener of the arm, so serialised once per loaded arm (a reload loads new arms)."""
        from .schemas import PlaylistOut, TrackOut

        return json.dumps(
            [
                PlaylistOut(
                    genre=p.genre, tracks=[TrackOut(**t.__dict__) for t in p.tracks]
                ).model_dump(mode="json")
                for p in self.playlists
            ],
            separators=(",", ":"),
            ensure_ascii=False,
        )


@dataclass(frozen=True)
class Artifacts:
    """Both arms for the published week, and the experiment's configuration."""

    experiment: str
    week_start: dt.date
    arms: dict[str, Arm]
    ab: ABParams

    @property
    def week_end(self) -> dt.date:
        return self.week_start + dt.timedelta(days=7)


def _fail(what: str) -> PozytywkaError:
    return PozytywkaError(f"{what}: {FIX}")


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise _fail(f"{path} not found")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _fail(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise _fail(f"{path} is not a playlist document")
    return doc


def _playlists(doc: dict, path: Path) -> tuple[Playlist, ...]:
    out = []
    try:
        for p in doc["playlists"]:
            tracks = []
            for i, t in enumerate(p["tracks"], start=1):
                if not isinstance(t["track_id"], str) or not t["track_id"]:
                    raise ValueError(f"bad track_id {t['track_id']!r}")
                tracks.append(Track(t["track_id"], t.get("name"), t.get("artist"), i))
            ids = [t.track_id for t in tracks]
            if len(set(ids)) != len(ids):
                raise ValueError(f"playlist {p['genre']!r} repeats a track")
            out.append(Playlist(str(p["genre"]), tuple(tracks)))
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail(f"{path} is not a playlist document ({exc!r})") from None
    if not out:
        raise _fail(f"{path} holds no playlists")
    return tuple(out)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def dvc_dir_md5(directory: Path) -> str:
    """DVC's hash of a directory output, as ``dvc.lock`` records it (``<md5>.dir``).

    The md5 of the JSON list ``[{"md5": <file md5>, "relpath": <posix path>}, ...]``
    of every file under ``directory``, sorted by ``relpath``, dumped with
    ``sort_keys`` and the default separators (dvc-data's ``Tree.as_bytes``; checked
    against the ``dvc.lock`` of a real ``dvc repro``). Hidden files count as DVC counts them.
    """
    entries = sorted(
        (p.relative_to(directory).as_posix(), _md5(p)) for p in directory.rglob("*") if p.is_file()
    )
    text = json.dumps([{"md5": m, "relpath": r} for r, m in entries], sort_keys=True)
    return hashlib.md5(text.encode("utf-8")).hexdigest() + ".dir"


def _read_lock(root: Path) -> dict:
    """The ``playlists`` stage's entry of ``root/dvc.lock``; one-line errors."""
    lock_path = root / "dvc.lock"
    if not lock_path.is_file():
        raise _fail(f"{lock_path} not found")
    try:
        lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) or {}
        stage = lock["stages"]["playlists"]
    except (yaml.YAMLError, KeyError, TypeError):
        stage = None
    if not isinstance(stage, dict) or not isinstance(stage.get("deps"), list):
        raise _fail(f"{lock_path} has no 'playlists' stage")
    return stage


def check_published(root: Path) -> None:
    """Refuse published playlists that are not what the ``playlists`` stage wrote.

    ``dvc.lock`` records the stage's output ``reports/playlists`` with its directory
    hash (:func:`dvc_dir_md5`); the files on disk must hash to it. A document edited
    by hand (two tracks swapped) would otherwise be served under the unchanged model
    version. A ``dvc.lock`` whose ``playlists`` stage records no such output (written
    by hand, as the tests' tiny project is) is not checked: DVC always records it.
    Raises :class:`PozytywkaError` (one line ending in "run dvc repro first").
    """
    stage = _read_lock(root)
    rel = paths.PLAYLIST_REPORTS
    recorded = {
        str(o.get("path")): o.get("md5") for o in stage.get("outs") or [] if isinstance(o, dict)
    }.get(str(rel))
    if not recorded:
        return
    on_disk = root / rel
    if not on_disk.is_dir() or dvc_dir_md5(on_disk) != recorded:
        raise _fail(
            f"{rel} is not what the playlists stage published (its hash differs from the "
            "one in dvc.lock: a published file was edited or replaced by hand)"
        )


def model_versions(root: Path) -> dict[str, str]:
    """``model`` -> md5 of its model file, as the ``playlists`` stage's entry in ``dvc.lock`` says.

    A model file present on disk with another hash means the published playlists
    were made from another model (the pipeline was not rerun): that is an error.
    """
    lock_path = root / "dvc.lock"
    deps = _read_lock(root)["deps"]
    by_path = {str(d.get("path")): d.get("md5") for d in deps if isinstance(d, dict)}
    versions = {}
    for model, rel in MODEL_FILES.items():
        md5 = by_path.get(str(rel))
        if not md5:
            raise _fail(f"{lock_path} records no hash for {rel}")
        on_disk = root / rel
        if on_disk.is_file() and _md5(on_disk) != md5:
            raise _fail(f"{rel} differs from the version in dvc.lock (the playlists are stale)")
        versions[model] = str(md5)
    return versions


def load_artifacts(root: Path | str = ".") -> Artifacts:
    """Load and check the published week (see the module docstring); one-line errors."""
    root = Path(root)
    params_path = root / paths.PARAMS
    if not params_path.is_file():
        raise PozytywkaError(
            f"{root.resolve()} is not the project root (no {paths.PARAMS}): run the service "
            "from the project root or set POZYTYWKA_ROOT to it"
        )
    ab = load_params(params_path).ab
    versions = model_versions(root)
    check_published(root)
    arms, weeks = {}, {}
    for arm, model in ARM_MODELS.items():
        path = root / paths.PLAYLISTS_BY_MODEL / f"{model}.json"
        doc = _read_json(path)
        if doc.get("model") != model:
            raise _fail(f"{path} holds model {doc.get('model')!r}, expected {model!r}")
        try:
            weeks[arm] = dt.date.fromisoformat(str(doc["week_start"]))
        except (KeyError, ValueError):
            raise _fail(f"{path} has no valid week_start") from None
        arms[arm] = Arm(arm, model, versions[model], _playlists(doc, path))
    if weeks["A"] != weeks["B"]:
        raise _fail(f"the arms are published for different weeks ({weeks['A']} vs {weeks['B']})")
    if weeks["A"].weekday() != 0:
        raise _fail(f"week_start {weeks['A']} is not a Monday")
    return Artifacts(EXPERIMENT_KEY, weeks["A"], arms, ab)
