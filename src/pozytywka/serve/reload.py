"""A new week without downtime: load what ``dvc repro`` published, check it, swap it in.

:func:`check_new_week` is pure: it takes the live :class:`Artifacts`, the newly
loaded ones and the ``playlists`` params of the new ``params.yaml``, and returns
the problems (an empty list means the new week may go live):

- both arms (A = baseline, B = CatBoost) are present;
- every playlist follows DESIGN §4: ``min_size``..``max_size`` tracks, no track
  twice, at most ``max_per_artist`` tracks of one artist (by the artist name the
  document carries; tracks without an artist are not counted);
- each arm's model version differs from the live one (same version: nothing new
  was published), and the week does not go back in time.

:class:`Reloader` does the reload for the app: one at a time (a lock), the new
artifacts are registered in the store first, then ``app.state.live`` is replaced
by one assignment. A request reads ``app.state.live`` once (its dependency), so a
request in flight finishes on the week it started with, and every request row
records the artifact it served (week and model version).
"""

from __future__ import annotations

import datetime as dt
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


def check_new_week(
    live: Artifacts, new: Artifacts, rules: PlaylistParams
) -> tuple[int, list[str]] | None:
    """``None`` when ``new`` may replace ``live``; else ``(status, reasons)``.

    422: the new artifacts are invalid (a missing arm, a playlist breaking the rules);
    409: they are valid but not a new week (a version unchanged, an earlier week).
    """
    bad = playlist_problems(new, rules)
    if bad:
        return 422, bad
    stale = []
    for arm, a in sorted(new.arms.items()):
        old = live.arms.get(arm)
        if old is not None and old.model_version == a.model_version:
            stale.append(
                f"arm {arm} ({a.model}) version {a.model_version} is the live one: "
                "nothing new was published"
            )
    if new.week_start < live.week_start:
        stale.append(f"week {new.week_start} is before the live week {live.week_start}")
    return (409, stale) if stale else None


@dataclass(frozen=True)
class ReloadResult:
    previous: Live
    live: Live


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
        now = state.clock.now()
        with state.metrics.store_write.labels("register_artifacts").time():
            ids, hid = register_with_holdout(state.store, new, now)
        live = Live(new, ids, hid)
        state.live = live  # the swap: one reference assignment
        state.metrics.set_live(new)
        if state.clock.manual and now < dt.datetime.combine(new.week_start, dt.time()):
            state.clock.set(dt.datetime.combine(new.week_start, dt.time()))
        return ReloadResult(previous, live)
