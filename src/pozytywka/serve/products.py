"""The service's other products: skip prediction (``skips``) and recommendations (``recs``).

Each is an experiment with its own key, served by its own router
(:mod:`.routers.skips`, :mod:`.routers.recs`) and logged in the same store as the
playlists (:meth:`Store.register_items`, :meth:`Store.serve`): every answer is a
served request, the listener's first request of the week is their exposure, and
outcomes come back through ``POST /v1/events`` with the answer's ``request_id``.

Assignment: :func:`pozytywka.experiment.assign.arm_of` with the playlists' split
(``ab.split``) and a salt per experiment, ``f"{ab.salt}:{key}"`` (:func:`salt_of`),
so a listener's arms in the three experiments are independent. The global holdout
(:mod:`.holdout`: the same listeners in every key, its own salt) is served arm A and
logged under ``"<key>:holdout"``; a stopped arm (:mod:`.killswitch`) sends its
listeners to the other arm, and the read-outs then analyse only what happened
before the stop (``stopped`` block).

Both products are optional: when their artifacts are missing, truncated or
corrupt the service starts, the playlists work, and the product's routes answer
503 with one line naming the file (when one is unreadable) and the stage to run
(:attr:`ProductLive.problem`); ``GET /readyz`` lists each part and why it is down
(:func:`part_states`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import paths
from ..config import ABParams
from ..errors import PozytywkaError
from ..experiment.assign import HOLDOUT, ab_arm, arm_of
from ..experiment.stats import compare
from ..playlists.metrics import bounded_mean_ci, mean_ci
from ..unreadable import ArtifactUnreadable, first_line, reading
from .holdout import holdout_key
from .killswitch import ArmStops, read_stop, stop_note
from .store import Store

log = logging.getLogger(__name__)

SKIPS = "skips"
RECS = "recs"
SKIPS_FIX = "run dvc repro skips_train first"
RECS_FIX = "run dvc repro recs_publish first"
#: P(skip) is clipped to [EPS, 1 - EPS] in the log loss (a 0 or 1 would be infinite).
EPS = 1e-6


def salt_of(ab: ABParams, key: str) -> str:
    """The assignment salt of experiment ``key``: ``"<ab.salt>:<key>"``."""
    return f"{ab.salt}:{key}"


@dataclass
class ProductLive:
    """One product as served: its model object, week, arms' artifact ids, or its problem."""

    key: str
    model: Any = None  # OnlineScorer (skips) or PublishedRecs (recs)
    week_start: dt.date | None = None
    artifact_ids: dict[str, int] = field(default_factory=dict)
    ab: ABParams | None = None
    problem: str | None = None
    holdout_id: int | None = None  # arm A's copy under "<key>:holdout"

    def arm(self, user_id: str) -> str:
        """The listener's arm by the assignment rule alone (no holdout, no stop)."""
        return arm_of(user_id, salt_of(self.ab, self.key), self.ab.split)

    def target(self, user_id: str, stops: ArmStops) -> tuple[str, str, int]:
        """``(experiment key to log under, arm served, artifact id)`` of the listener: the
        holdout's (``"<key>:holdout"``, A) or their arm, the other one if it is stopped."""
        assigned = ab_arm(user_id, self.ab, salt_of(self.ab, self.key))
        if assigned == HOLDOUT and self.holdout_id is not None:
            return holdout_key(self.key), "A", self.holdout_id
        if assigned == HOLDOUT:
            assigned = "A"
        arm = stops.served_arm(self.key, self.week_start, assigned)
        return self.key, arm, self.artifact_ids[arm]


def load_product(
    key: str,
    loader: Callable[[], Any],
    register: Callable[[Any], tuple[dt.date, dict[str, tuple[str, str, frozenset[str]]]]],
    store: Store,
    ab: ABParams,
    now: dt.datetime,
    fix: str,
    check: Callable[[Any], None] | None = None,
) -> ProductLive:
    """Load a product once (at start-up) and register its arms' items in the store.

    ``register(model) -> (week_start, {arm: (model name, version, track ids)})``. The
    product is optional: whatever stops it loading leaves it unavailable
    (:attr:`ProductLive.problem`, the 503's one line) and the service serves the rest
    (issue 22, item 3):

    - a missing artifact (:class:`PozytywkaError`, ``FileNotFoundError``): the ``fix``;
    - an unreadable one (:class:`~pozytywka.unreadable.ArtifactUnreadable`: truncated,
      corrupt): its line, naming the file and the fix;
    - anything else the loader or ``register(model)`` raises (a file that reads but
      holds the wrong content): ``"<key> could not be loaded (<Type>: <reason>): <fix>"``,
      logged with its traceback; this includes ``check(model)``, a smoke answer of
      each arm (:func:`skips_check`, :func:`recs_check`): a file that loads but cannot
      answer (e.g. a ``baselines.json`` without the genre rule) makes the product
      unavailable at start, not a 500 at its first request.

    The store writes (:meth:`Store.register_items`) are outside: a store fault is the
    store's (the start fails), not the product's."""
    try:
        model = loader()
        week, arms = register(model)
        if check is not None:
            check(model)
    except ArtifactUnreadable as exc:
        log.warning("%s unavailable: %s", key, exc)
        return ProductLive(key, ab=ab, problem=str(exc))
    except (PozytywkaError, FileNotFoundError) as exc:
        log.warning("%s unavailable: %s", key, exc)
        return ProductLive(key, ab=ab, problem=fix)
    except Exception as exc:
        log.warning("%s unavailable: could not be loaded", key, exc_info=True)
        problem = f"{key} could not be loaded ({first_line(exc)}): {fix}"
        return ProductLive(key, ab=ab, problem=problem)
    ids = {
        arm: store.register_items(key, week, arm, name, version, tracks, now)
        for arm, (name, version, tracks) in arms.items()
    }
    hid = store.register_items(holdout_key(key), week, "A", *arms["A"], now)
    return ProductLive(key, model, week, ids, ab, holdout_id=hid)


def part_states(state: Any) -> dict[str, dict[str, Any]]:
    """What ``GET /readyz`` says of each part of the service (issue 22, item 3): part ->
    ``{"serving": bool, "reason": the 503's line or None}``, sorted by name.

    ``state`` is the app's state after start-up: ``live`` (the playlists, required:
    serving once loaded), ``products`` (:class:`ProductLive` by key), ``catalogue``
    and ``catalogue_error``. An optional part that is down does not make the service
    unready: its own routes answer 503 with the reason, the rest serves."""
    parts = {"playlists": None if getattr(state, "live", None) else "not loaded"}
    for key, live in getattr(state, "products", {}).items():
        parts[key] = live.problem
    if getattr(state, "catalogue", None) is None:
        parts["catalogue"] = getattr(state, "catalogue_error", None) or "not loaded"
    else:
        parts["catalogue"] = None
    return {k: {"serving": v is None, "reason": v} for k, v in sorted(parts.items())}


def _arm_block(values: np.ndarray, bounds) -> dict:
    """Mean and 95% interval: logit-t for a share (bounds (0, 1)), else Student t cut to
    the metric's range (a log loss is never below 0: the t interval of a few listeners
    would be)."""
    if not len(values):
        return {"n": 0, "mean": None, "ci_low": None, "ci_high": None}
    share = bounds == (0.0, 1.0)
    mean, low, high = bounded_mean_ci(values) if share else mean_ci(values)
    if not share and bounds[0] is not None:
        low = max(low, bounds[0])
    if not share and bounds[1] is not None:
        high = min(high, bounds[1])
    return {"n": int(len(values)), "mean": mean, "ci_low": low, "ci_high": high}


def _compare_block(per_unit: pd.DataFrame, metric: str, ab: ABParams, bounds) -> dict:
    a = per_unit.loc[per_unit["arm"] == "A", metric].to_numpy(dtype="float64")
    b = per_unit.loc[per_unit["arm"] == "B", metric].to_numpy(dtype="float64")
    c = compare(a, b, metric, ab.alpha, ab.power, bounds=bounds).as_dict()
    return {
        "arms": {"A": _arm_block(a, bounds), "B": _arm_block(b, bounds)},
        "diff_b_minus_a": c["diff"],
        "diff_ci_low": c["abs_ci_low"],
        "diff_ci_high": c["abs_ci_high"],
        "p_value": c["abs_p_value"],
    }


def skip_losses(predictions: pd.DataFrame) -> pd.DataFrame:
    """Per scored play with a known outcome (a ``play`` event was logged): ``skipped``
    (1 when a ``skip`` event followed), ``log_loss`` (natural log, P clipped to
    [EPS, 1 - EPS]) and ``correct`` (1 when the decision ``stream`` matched a skip or
    ``fetch`` a play to the end). Columns of :meth:`Store.predictions_frame` plus these."""
    done = predictions.loc[predictions["played"] == 1].copy()
    p = done["probability"].clip(EPS, 1 - EPS)
    y = done["skipped"].astype(float)
    done["log_loss"] = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    done["correct"] = ((done["decision"] == "stream").astype(int) == done["skipped"]).astype(float)
    return done


def _with_stop(store: Store, key: str, week: dt.date, stop) -> dict:
    """The read-out's ``holdout_listeners`` (exposed under ``"<key>:holdout"``) and, when an
    arm was stopped, its ``stopped`` block (arm, time, listeners exposed after it)."""
    out: dict = {"holdout_listeners": int(len(store.exposures_frame(holdout_key(key), week)))}
    if stop:
        before = store.exposures_frame(key, week, stop[1], upto=stop[2])
        left_out = int(len(store.exposures_frame(key, week)) - len(before))
        out["stopped"] = {
            "arm": stop[0],
            "stopped_at": stop[1].isoformat(),
            "listeners_after_stop": left_out,
            "note": stop_note(stop[0], stop[1], left_out),
        }
    return out


def read_skips(store: Store, live: ProductLive, week: dt.date) -> dict:
    """Arms' log loss and accuracy on the logged outcomes, B - A with 95% intervals.

    Unit: the listener (mean of their scored plays). Listeners are what is
    randomised, and one listener's plays are correlated, so per-prediction values
    would understate the variance; per listener they are independent."""
    stop = read_stop(store, SKIPS, week)
    before = stop[1] if stop else None
    frame = skip_losses(store.predictions_frame(SKIPS, week, before))
    per_user = frame.groupby(["user_id", "arm"], as_index=False)[["log_loss", "correct"]].mean()
    both = per_user["user_id"].duplicated(keep=False)
    per_user = per_user.loc[~both]
    return _with_stop(store, SKIPS, week, stop) | {
        "experiment": SKIPS,
        "week_start": week.isoformat(),
        "unit": "listener (mean over their scored plays with an outcome)",
        "predictions_with_outcome": int(len(frame)),
        "listeners": int(len(per_user)),
        "listeners_exposed": int(len(store.exposures_frame(SKIPS, week))),
        "excluded_both_arms": int(both.sum() // 2),
        "log_loss": _compare_block(per_user, "log_loss", live.ab, (0.0, None)),
        "accuracy": _compare_block(per_user, "correct", live.ab, (0.0, 1.0)),
    }


def read_recs(store: Store, live: ProductLive, week: dt.date) -> dict:
    """Arms' hit rate (share of exposed listeners who played or liked a recommended
    track) and plays of recommended tracks per exposed listener, B - A with 95%
    intervals. Unit: the exposed listener (the randomised unit); a listener with
    no events counts with zeros."""
    stop = read_stop(store, RECS, week)
    before = stop[1] if stop else None
    exposed = store.exposures_frame(RECS, week, before, upto=stop[2] if stop else None)
    both = set(store.listeners_in_both_arms(RECS, week, before))
    exposed = exposed.loc[~exposed["user_id"].isin(both), ["user_id", "arm"]]
    ev = store.events_frame(RECS, week, before)
    plays = ev.loc[ev["event_type"] == "play"].groupby("user_id").size()
    engaged = set(ev.loc[ev["event_type"].isin(["play", "like"]), "user_id"])
    per_user = exposed.assign(
        plays=exposed["user_id"].map(plays).fillna(0).astype(float),
        hit=exposed["user_id"].isin(engaged).astype(float),
    )
    return _with_stop(store, RECS, week, stop) | {
        "experiment": RECS,
        "week_start": week.isoformat(),
        "unit": "exposed listener",
        "listeners": int(len(per_user)),
        "excluded_both_arms": len(both),
        "events": int(len(ev)),
        "hit_rate": _compare_block(per_user, "hit", live.ab, (0.0, 1.0)),
        "plays_per_listener": _compare_block(per_user, "plays", live.ab, (0.0, None)),
    }


def finite(doc: Any) -> Any:
    """``doc`` with NaN/inf floats as None (JSON has no NaN)."""
    if isinstance(doc, dict):
        return {k: finite(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [finite(v) for v in doc]
    if isinstance(doc, float) and not math.isfinite(doc):
        return None
    return doc


def _version(*parts: Any) -> str:
    return hashlib.md5(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def skips_arms(scorer: Any) -> tuple[dt.date, dict[str, tuple[str, str, frozenset[str]]]]:
    """The ``skips`` arms of an :class:`~pozytywka.skips.online.OnlineScorer`: both may
    score any catalogue track; the version is a hash of the published ``meta.json``."""
    from ..skips.online import ARM_MODELS

    version = _version(scorer.meta)
    tracks = frozenset(scorer.known_tracks)
    week = pd.Timestamp(scorer.serve_week).date()
    return week, {arm: (name, version, tracks) for arm, name in ARM_MODELS.items()}


def recs_arms(recs: Any) -> tuple[dt.date, dict[str, tuple[str, str, frozenset[str]]]]:
    """The ``recs`` arms of a :class:`~pozytywka.recs.online.PublishedRecs`: each may
    serve its published lists' tracks and the fallback's."""
    arms = {}
    for arm in ("A", "B"):
        tracks = {t for (_, a), (ts, _) in recs.lists.items() if a == arm for t in ts}
        tracks |= set(recs.fallback)
        name = recs.models.get(arm, "popularity_genre")
        arms[arm] = (name, _version(recs.week_start, name, sorted(tracks)), frozenset(tracks))
    return pd.Timestamp(recs.week_start).date(), arms


#: The listener id of the start-up smoke answers (no store write: nothing is logged).
SMOKE_USER = "smoke-check"


def skips_check(scorer: Any) -> None:
    """One prediction per arm (A, B) for a cold-start listener on the first known track
    (sorted): raises whatever the scorer raises when its artifacts cannot answer."""
    from ..skips.online import ARM_MODELS

    tracks = sorted(scorer.known_tracks)
    if not tracks:
        raise PozytywkaError("the skip model's catalogue holds no track")
    for arm in sorted(ARM_MODELS):
        scorer.predict(SMOKE_USER, tracks[0], [], arm=arm)


def recs_check(recs: Any) -> None:
    """One recommendation per arm (A, B) for a cold-start listener and for the first
    listener of the published lists (sorted): raises whatever ``recommend`` raises."""
    known = sorted({u for u, _ in recs.lists})[:1]
    for arm in ("A", "B"):
        for user in [SMOKE_USER, *known]:
            recs.recommend(user, 1, arm)


def answer_failed(key: str, exc: Exception) -> str:
    """The 503's line when product ``key``'s model raised something unexpected while
    answering (a backstop: :func:`load_product`'s check should have caught it)."""
    return f"{key} could not answer ({first_line(exc)}): the published artifacts look wrong"


def load_skips(root: Path) -> Any:
    from ..skips.online import OnlineScorer

    return OnlineScorer.load(root)


def load_recs(root: Path) -> Any:
    """:meth:`PublishedRecs.load` of the two published files, after reading each one's
    Parquet footer (a file cut short has none: :class:`ArtifactUnreadable` naming it; a
    missing one is left to ``load``, which names the stage to run)."""
    import pyarrow.parquet as pq

    from ..recs.online import PublishedRecs

    published, fallback = root / paths.RECS_PUBLISHED, root / paths.RECS_FALLBACK
    for path in (published, fallback):
        if path.exists():
            with reading(path, RECS_FIX):
                pq.read_metadata(path)
    return PublishedRecs.load(published, fallback)
