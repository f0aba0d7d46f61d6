"""The demo page (``GET /``, ``GET /?user_id=U``) and the browse view (``GET /browse``).

HTML for people.

Server-rendered with Jinja2 from ``serve/templates``; the page's only script and
style sheet are ``serve/static/app.js`` and ``style.css``, served by the app itself
under ``/static`` (nothing from a CDN, no inline script or style: the CSP of
:mod:`..security` needs no ``'unsafe-inline'`` for them).

``GET /?user_id=U`` shows what the service gives listener ``U`` in each of the three
products, read from what is loaded, **logging nothing** (looking at a listener is not
serving them, DESIGN §9: an exposure is the first time a listener is *served* an arm):

- playlists: their arm (``arm_of`` with ``ab.salt``) and that arm's playlists;
- recommendations: their arm of experiment ``recs`` and its first :data:`RECS_K`
  tracks (:meth:`PublishedRecs.recommend`), with the source (model or fallback);
- skips: P(skip) and the caching decision (``fetch``/``stream``) of their arm of
  experiment ``skips`` for every track shown, each scored as the first play of a
  session at the start of the skip model's week (what ``POST /v1/skips/predict``
  answers with no session and no timestamp);
- a listener none of the loaded products knows (:func:`listener_known`) is labelled
  a cold start, and each product says what it does for them.

A product that is not loaded says so in its place (its one-line problem). The
page's script (``app.js``) acts as the listener only when asked: the first
"played"/"skipped"/"like" mark calls ``GET /v1/playlists`` (which logs the exposure,
as for any listener served) and posts the event with that request's id. It also
draws the experiment's read-out (``GET /v1/experiments/playlists/results``).

``GET /browse`` shows both arms' playlists genre by genre (:func:`arm_diff`), each
genre a collapsible section that says how many tracks the arms share, with the
tracks one arm serves and the other does not marked; no exposure is logged.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from ...errors import PozytywkaError
from ...experiment.assign import HOLDOUT, ab_arm
from ..artifacts import ARM_MODELS, Arm
from ..deps import LiveDep
from ..products import RECS, SKIPS, answer_failed
from ..schemas import ID_PATTERN, ID_RULE

router = APIRouter(tags=["pages"], include_in_schema=False)
log = logging.getLogger(__name__)

templates = Jinja2Templates(
    env=Environment(
        loader=PackageLoader("pozytywka.serve", "templates"),
        autoescape=select_autoescape(["html"]),
    )
)

#: How many recommended tracks the listener view shows.
RECS_K = 10
#: The recs model name when the published file names none for the arm (as the recs router).
RECS_DEFAULT_MODEL = "popularity_genre"


# --- the browse view: where the arms differ ---------------------------------------------


@dataclass(frozen=True)
class DiffTrack:
    """A track of one arm's playlist of a genre; ``shared``: the other arm's playlist of
    the same genre holds it too (at any position)."""

    position: int
    track_id: str
    name: str | None
    artist: str | None
    shared: bool


@dataclass(frozen=True)
class GenreDiff:
    """One genre in both arms: ``a``/``b`` are the arms' playlists of it in play order
    (empty when that arm has no playlist of the genre)."""

    genre: str
    a: tuple[DiffTrack, ...]
    b: tuple[DiffTrack, ...]

    @property
    def shared(self) -> int:
        """Tracks in both arms' playlists of the genre."""
        return sum(t.shared for t in self.a)

    @property
    def only_a(self) -> int:
        return sum(not t.shared for t in self.a)

    @property
    def only_b(self) -> int:
        return sum(not t.shared for t in self.b)

    @property
    def identical(self) -> bool:
        """The same tracks in the same order in both arms."""
        return [t.track_id for t in self.a] == [t.track_id for t in self.b]


def arm_diff(a: Arm, b: Arm) -> list[GenreDiff]:
    """Both arms' playlists matched by genre: arm A's genres in its order, then those
    only arm B has, in B's order. A track is ``shared`` when the other arm's playlist of
    the same genre holds it; a genre one arm lacks has no shared track. (A genre listed
    twice in one arm, which the ``playlists`` stage never writes, keeps its first list.)"""
    lists_a = {}
    for p in a.playlists:
        lists_a.setdefault(p.genre, p.tracks)
    lists_b = {}
    for p in b.playlists:
        lists_b.setdefault(p.genre, p.tracks)
    genres = list(lists_a) + [g for g in lists_b if g not in lists_a]
    out = []
    for g in genres:
        ta, tb = lists_a.get(g, ()), lists_b.get(g, ())
        ids_a, ids_b = {t.track_id for t in ta}, {t.track_id for t in tb}

        def side(tracks, other: set[str]) -> tuple[DiffTrack, ...]:
            return tuple(
                DiffTrack(t.position, t.track_id, t.name, t.artist, t.track_id in other)
                for t in tracks
            )

        out.append(GenreDiff(g, side(ta, ids_b), side(tb, ids_a)))
    return out


# --- the listener view --------------------------------------------------------------------


@dataclass(frozen=True)
class ShownTrack:
    """A track on the listener view, with its skip score (``p_skip``/``decision``), or
    ``note`` saying why it has none."""

    position: int
    track_id: str
    name: str | None
    artist: str | None
    p_skip: float | None = None
    decision: str | None = None
    note: str | None = None


def valid_user_id(user_id: str) -> str | None:
    """None for an id the API accepts (1-64 characters of :data:`ID_PATTERN`), else the
    one-line reason (the API's own :data:`ID_RULE`)."""
    if not 1 <= len(user_id) <= 64:
        return "user_id: must be 1 to 64 characters"
    if not re.fullmatch(ID_PATTERN, user_id):
        return f"user_id: {ID_RULE}"
    return None


def listener_known(user_id: str, models: list[Any]) -> bool | None:
    """Whether the published data holds ``user_id``: True when one of the loaded
    products' models knows them (``model.knows(user_id)``: the skip scorer's listeners,
    the published recommendation lists), False when none does, None when no model that
    could tell is loaded (then the page cannot say)."""
    if not models:
        return None
    return any(m.knows(user_id) for m in models)


def score_tracks(scorer: Any, user_id: str, arm: str, track_ids: list[str]) -> dict[str, Any]:
    """``track_id -> Prediction`` of ``scorer.predict(user_id, track, [], arm=arm)`` (the
    first play of a session at the start of the scorer's week), or ``-> str``: the
    one-line reason it could not be scored (e.g. a track the skip model's catalogue
    does not hold). Each id is scored once."""
    out: dict[str, Any] = {}
    for t in track_ids:
        if t in out:
            continue
        try:
            out[t] = scorer.predict(user_id, t, [], arm=arm)
        except PozytywkaError as exc:
            out[t] = str(exc)
    return out


def _shown(position, track_id, name, artist, scores: dict[str, Any]) -> ShownTrack:
    s = scores.get(track_id)
    if s is None:
        return ShownTrack(position, track_id, name, artist)
    if isinstance(s, str):
        return ShownTrack(position, track_id, name, artist, note=s)
    return ShownTrack(position, track_id, name, artist, round(s.probability, 3), s.decision)


def _product(request: Request, key: str):
    return getattr(request.app.state, "products", {}).get(key)


def playlists_arm(request: Request, arts, user_id: str) -> tuple[str, str | None]:
    """``(arm served now, stopped arm or None)`` of the playlists, as ``GET /v1/playlists``
    serves them: the global holdout gets A; a listener of an arm stopped by the kill
    switch (:mod:`..killswitch`) gets the other arm, and the stopped arm is returned."""
    assigned = ab_arm(user_id, arts.ab)
    if assigned == HOLDOUT:
        return "A", None
    served = request.app.state.arm_stops.served_arm(arts.experiment, arts.week_start, assigned)
    return served, (assigned if served != assigned else None)


def product_arm(request: Request, live, user_id: str) -> tuple[str, str | None]:
    """``(arm served now, stopped arm or None)`` of product ``live`` (:class:`ProductLive`),
    as its route serves it (:meth:`ProductLive.target`: holdout, kill switch)."""
    key, arm, _ = live.target(user_id, request.app.state.arm_stops)
    assigned = live.arm(user_id)
    return arm, (assigned if key == live.key and arm != assigned else None)


def listener_view(request: Request, live, user_id: str) -> dict:
    """The template context of listener ``user_id`` (see the module docstring); logs nothing.

    Each product shows the arm the listener is served now (a stopped arm's listeners
    see the other arm and a line saying which was stopped). A product whose model
    raises something unexpected shows its problem in place (logged), not a 500."""
    arts = live.artifacts
    arm, stopped = playlists_arm(request, arts, user_id)
    served = arts.arms[arm]
    skips, recs = _product(request, SKIPS), _product(request, RECS)
    skips_ok = skips is not None and not skips.problem
    recs_ok = recs is not None and not recs.problem

    view: dict[str, Any] = {"user_id": user_id}
    rec_ids: list[str] = []
    if recs_ok:
        recs_arm, recs_stopped = product_arm(request, recs, user_id)
        try:
            rec_ids, source = recs.model.recommend(user_id, RECS_K, recs_arm)
        except Exception as exc:
            log.error("recs: the model could not answer", exc_info=exc)
            recs_ok = False
            view["recs"] = {"problem": answer_failed(RECS, exc)}
        else:
            view["recs"] = {
                "arm": recs_arm,
                "stopped": recs_stopped,
                "model": recs.model.models.get(recs_arm, RECS_DEFAULT_MODEL),
                "source": source,
                "week_start": recs.week_start.isoformat(),
            }
    else:
        view["recs"] = {"problem": recs.problem if recs is not None else "not loaded"}

    playlist_ids = [t.track_id for p in served.playlists for t in p.tracks]
    scores: dict[str, Any] = {}
    if skips_ok:
        from ...skips.online import ARM_MODELS as SKIP_MODELS

        skips_arm, skips_stopped = product_arm(request, skips, user_id)
        try:
            scores = score_tracks(skips.model, user_id, skips_arm, playlist_ids + rec_ids)
        except Exception as exc:
            log.error("skips: the model could not answer", exc_info=exc)
            skips_ok, scores = False, {}
            view["skips"] = {"problem": answer_failed(SKIPS, exc)}
    if skips_ok:
        preds = [s for s in scores.values() if not isinstance(s, str)]
        prior = getattr(skips.model, "prior_rate", None)
        view["skips"] = {
            "arm": skips_arm,
            "stopped": skips_stopped,
            "model": preds[0].model if preds else SKIP_MODELS.get(skips_arm, ""),
            "threshold": round(preds[0].threshold, 3) if preds else None,
            "week_start": skips.week_start.isoformat(),
            "prior_rate": None if prior is None else round(float(prior), 3),
        }
    elif "skips" not in view:
        view["skips"] = {"problem": skips.problem if skips is not None else "not loaded"}

    view["playlists"] = {
        "arm": arm,
        "stopped": stopped,
        "model": served.model,
        "lists": [
            (p.genre, [_shown(t.position, t.track_id, t.name, t.artist, scores) for t in p.tracks])
            for p in arts.arms[arm].playlists
        ],
    }
    if recs_ok:
        names = _track_names(request, live, rec_ids)
        view["recs"]["tracks"] = [
            _shown(i, t, *names.get(t, (None, None)), scores) for i, t in enumerate(rec_ids, 1)
        ]
    view["known"] = listener_known(
        user_id, [p.model for p, ok in ((skips, skips_ok), (recs, recs_ok)) if ok]
    )
    return view


def _track_names(request: Request, live, track_ids: list[str]) -> dict[str, tuple]:
    """Names and artists of ``track_ids``: from the published playlists, then the
    catalogue (when loaded); a track neither holds is shown by its id."""
    names = {
        t.track_id: (t.name, t.artist)
        for served in live.artifacts.arms.values()
        for p in served.playlists
        for t in p.tracks
    }
    missing = [t for t in track_ids if t not in names]
    catalogue = getattr(request.app.state, "catalogue", None)
    if missing and catalogue is not None:
        names |= catalogue.track_names(missing)
    return names


# --- routes ------------------------------------------------------------------------------


def _context(request: Request, live) -> dict:
    arts = live.artifacts
    return {
        "clock": request.app.state.settings.clock,
        "experiment": arts.experiment,
        "week_start": arts.week_start.isoformat(),
        "arms": {
            arm: {"model": served.model, "version": served.model_version[:8]}
            for arm, served in sorted(arts.arms.items())
        },
    }


@router.get("/", response_class=HTMLResponse)
def index(request: Request, live: LiveDep, user_id: str | None = None):
    """The form; with ``?user_id=U`` the listener's view of the three products (logs
    nothing). A bad id answers 422 with the page and the reason in place."""
    ctx = _context(request, live) | {"user_id": user_id or "", "error": None, "view": None}
    status = 200
    if user_id is not None:
        ctx["error"] = valid_user_id(user_id)
        if ctx["error"]:
            status = 422
        else:
            ctx["view"] = listener_view(request, live, user_id)
    return templates.TemplateResponse(request, "index.html", ctx, status_code=status)


@router.get("/browse", response_class=HTMLResponse)
def browse(request: Request, live: LiveDep):
    """Both arms' playlists genre by genre, the tracks in which they differ marked (no
    exposure is logged)."""
    arms = live.artifacts.arms
    diff = arm_diff(arms["A"], arms["B"])
    ctx = _context(request, live) | {
        "diff": diff,
        "models": ARM_MODELS,
        "totals": {
            "shared": sum(g.shared for g in diff),
            "only_a": sum(g.only_a for g in diff),
            "only_b": sum(g.only_b for g in diff),
        },
    }
    return templates.TemplateResponse(request, "browse.html", ctx)
