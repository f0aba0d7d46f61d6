"""A new week without downtime: load what ``dvc repro`` published, check it, swap it in.

:func:`check_new_week` is pure: it takes the live :class:`Artifacts`, the newly
loaded ones and the ``playlists`` params of the new ``params.yaml``, and returns
the problems (an empty list means the new week may go live):

- both arms (A = baseline, B = CatBoost) are present;
- every playlist follows DESIGN §4: ``min_size``..``max_size`` tracks, no track
  twice, at most ``max_per_artist`` tracks of one artist (by the artist name the
  document carries; tracks without an artist are not counted);
- something is new: a later week, or in the live week a new model version of at
  least one arm (only the CatBoost arm retrained is a reload too), or new playlists
  under an unchanged version (``Arm.content_md5``: the ``playlists`` stage rerun
  with other ``playlists`` params); the live week with every version and every
  arm's playlists unchanged is refused (nothing new was published), and so is an
  earlier week. A published file edited by hand never gets here: loading refuses
  it (:func:`~pozytywka.serve.artifacts.check_published`, 422). :func:`changed_arms`
  names what changed; the reload logs it and answers it.

:class:`Reloader` does the reload for the app: one at a time (a lock), the new
artifacts are registered in the store first, then ``app.state.live`` is replaced
by one assignment. A request reads ``app.state.live`` once (its dependency), so a
request in flight finishes on the week it started with, and every request row
records the artifact it served (week and model version).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from .. import paths
from ..config import PlaylistParams, load_params
from ..errors import PozytywkaError
from .artifacts import ARM_MODELS, Artifacts
from .deps import Live
from .holdout import register_with_holdout
from .settings import Settings

log = logging.getLogger(__name__)


class ReloadRejected(Exception):
    """The new week was not swapped in: ``status`` (409 or 422) and one line per reason."""

    def __init__(self, status: int, reasons: list[str]) -> None:
        super().__init__("; ".join(reasons))
        self.status = status
        self.reasons = reasons


def playlist_problems(arts: Artifacts, rules: PlaylistParams) -> list[str]:
    """Lines naming each playlist that breaks the DESIGN §4 rules (empty: all valid)."""
    out = []
    missing = sorted(set(ARM_MODELS) - set(arts.arms))
    if missing:
        out.append(f"arm(s) {', '.join(missing)} missing from the published week")
    for arm, a in sorted(arts.arms.items()):
        for p in a.playlists:
            where = f"arm {arm} ({a.model}) playlist {p.genre!r}"
            n = len(p.tracks)
            if not rules.min_size <= n <= rules.max_size:
                out.append(f"{where} has {n} tracks, not {rules.min_size}-{rules.max_size}")
            ids = [t.track_id for t in p.tracks]
            if len(set(ids)) != len(ids):
                out.append(f"{where} repeats a track")
            per_artist = Counter(t.artist for t in p.tracks if t.artist)
            over = sorted(k for k, c in per_artist.items() if c > rules.max_per_artist)
            if over:
                out.append(
                    f"{where} has more than {rules.max_per_artist} tracks of {', '.join(over)}"
                )
    return out


def changed_arms(live: Artifacts, new: Artifacts) -> list[str]:
    """One line per arm of ``new`` that differs from ``live``, sorted by arm: a new week
    changes every arm (``"arm A (baseline): week 2024-07-29 -> 2024-08-05"``), a new model
    version in the same week that arm only (``"arm B (catboost): version b… -> d…"``, the
    md5s from dvc.lock), other playlists under the same version that arm only
    (``"arm B (catboost): playlists 1f… -> 9c… (version unchanged)"``, the
    ``content_md5``s), an arm not live before is new. Empty: ``new`` is the live week."""
    out = []
    for arm, a in sorted(new.arms.items()):
        old = live.arms.get(arm)
        what = []
        if new.week_start != live.week_start:
            what.append(f"week {live.week_start} -> {new.week_start}")
        if old is None:
            what.append(f"new arm, version {a.model_version}")
        elif old.model_version != a.model_version:
            what.append(f"version {old.model_version} -> {a.model_version}")
        elif old.content_md5 != a.content_md5:
            what.append(f"playlists {old.content_md5} -> {a.content_md5} (version unchanged)")
        if what:
            out.append(f"arm {arm} ({a.model}): {', '.join(what)}")
    return out


def check_new_week(
    live: Artifacts, new: Artifacts, rules: PlaylistParams
) -> tuple[int, list[str]] | None:
    """``None`` when ``new`` may replace ``live``; else ``(status, reasons)``.

    422: the new artifacts are invalid (a missing arm, a playlist breaking the rules);
    409: they are valid but not new: an earlier week, or the live week with every arm's
    model version and playlists unchanged (identical to what is served). A new week, or a new model
    version of any one arm in the live week (a retrained CatBoost alone), may go live
    (issue 22, item 7).
    """
    bad = playlist_problems(new, rules)
    if bad:
        return 422, bad
    if new.week_start < live.week_start:
        return 409, [f"week {new.week_start} is before the live week {live.week_start}"]
    if changed_arms(live, new):
        return None
    return 409, [
        f"arm {arm} ({a.model}) version {a.model_version} is the live one: "
        "nothing new was published"
        for arm, a in sorted(new.arms.items())
    ]


@dataclass(frozen=True)
class ReloadResult:
    previous: Live
    live: Live
    changed: list[str]  # changed_arms(previous, live): what went live


class Reloader:
    """``reload()`` for one app: load, check, register in the store, swap ``app.state.live``."""

    def __init__(self, app_state, load: Callable[[Settings], Artifacts]) -> None:
        self.state = app_state
        self.load = load
        self._lock = threading.Lock()

    def reload(self) -> ReloadResult:
        if not self._lock.acquire(blocking=False):
            raise ReloadRejected(409, ["another reload is in progress"])
        try:
            return self._reload()
        finally:
            self._lock.release()

    def _reload(self) -> ReloadResult:
        state = self.state
        settings: Settings = state.settings
        try:
            new = self.load(settings)
            rules = load_params(settings.root / paths.PARAMS).playlists
        except PozytywkaError as exc:
            raise ReloadRejected(422, [str(exc)]) from None
        previous: Live = state.live
        verdict = check_new_week(previous.artifacts, new, rules)
        if verdict is not None:
            raise ReloadRejected(*verdict)
        changed = changed_arms(previous.artifacts, new)
        now = state.clock.now()
        with state.metrics.store_write.labels("register_artifacts").time():
            ids, hid = register_with_holdout(state.store, new, now)
        live = Live(new, ids, hid)
        state.live = live  # the swap: one reference assignment
        state.metrics.set_live(new)
        if state.clock.manual and now < dt.datetime.combine(new.week_start, dt.time()):
            state.clock.set(dt.datetime.combine(new.week_start, dt.time()))
        log.info("reloaded: %s", "; ".join(changed))
        return ReloadResult(previous, live, changed)
