"""Pre-flight checks: everything that can stop the pipeline, checked before it runs.

DVC removes a stage's outputs just before it runs the stage. A bad param or a
dump too short for the evaluation, found inside a later stage, would therefore
cost the outputs of that stage (issue "a failed experiment breaks nothing").
The ``validate`` stage, which every other stage depends on, runs these checks
first; ``ingest`` (whose outputs DVC keeps, ``persist: true``) repeats the
dump-length check on the cleaned data before it writes anything.

The weeks each product needs (one source, used by the checks and the stages):

- playlists: ``split.min_train_weeks + split.valid_weeks + evaluate.eval_weeks + 1``
  (:func:`required_complete_weeks`);
- skips: ``skips.train_weeks + skips.valid_weeks + skips.eval_weeks``;
- recs: ``recs.min_train_weeks + recs.valid_weeks + recs.eval_weeks``.

The evaluated weeks adapt to a short dump (:func:`fit_eval_weeks`): a product's
``eval_weeks`` is lowered to what the dump holds after its training and validation
weeks, down to :data:`MIN_EVAL_WEEKS`; only a dump too short for that stops. The
stage entry point (``pozytywka <stage>``) applies it, logs it, and the products'
metrics record it (:func:`eval_weeks_record`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from .config import Params
from .errors import PozytywkaError

log = logging.getLogger(__name__)

#: The fewest evaluated weeks an honest comparison needs: one week gives no
#: interval across weeks and no "better in n of m weeks".
MIN_EVAL_WEEKS = 2


def required_complete_weeks(min_train_weeks: int, valid_weeks: int, eval_weeks: int) -> int:
    """Complete weeks a dump needs for the train/validate/backtest split.

    The last complete week has no target (it is the prediction week). The first
    backtest week needs ``min_train_weeks`` training weeks and ``valid_weeks``
    validation weeks before it, then ``eval_weeks`` backtest weeks follow:
    ``min_train_weeks + valid_weeks + eval_weeks`` labelled weeks + 1.
    """
    return min_train_weeks + valid_weeks + eval_weeks + 1


@dataclass(frozen=True)
class WeeksNeed:
    """Complete weeks one product needs, and the params that set the number."""

    product: str
    weeks: int
    because: str  # "split.min_train_weeks 4 + ..." for the message
    eval_param: str = ""  # the param holding its evaluated weeks, "evaluate.eval_weeks"
    eval_weeks: int = 0  # that param's value (part of ``weeks``)


def weeks_needed(params: Params) -> list[WeeksNeed]:
    """Complete weeks each product needs under ``params`` (see the module docstring)."""
    sp, ev, sk, rp = params.split, params.evaluate, params.skips, params.recs
    return [
        WeeksNeed(
            "playlists",
            required_complete_weeks(sp.min_train_weeks, sp.valid_weeks, ev.eval_weeks),
            f"split.min_train_weeks {sp.min_train_weeks} + split.valid_weeks "
            f"{sp.valid_weeks} + evaluate.eval_weeks {ev.eval_weeks} + 1 prediction week",
            "evaluate.eval_weeks",
            ev.eval_weeks,
        ),
        WeeksNeed(
            "skips",
            sk.train_weeks + sk.valid_weeks + sk.eval_weeks,
            f"skips.train_weeks {sk.train_weeks} + skips.valid_weeks {sk.valid_weeks} "
            f"+ skips.eval_weeks {sk.eval_weeks}",
            "skips.eval_weeks",
            sk.eval_weeks,
        ),
        WeeksNeed(
            "recs",
            rp.min_train_weeks + rp.valid_weeks + rp.eval_weeks,
            f"recs.min_train_weeks {rp.min_train_weeks} + recs.valid_weeks "
            f"{rp.valid_weeks} + recs.eval_weeks {rp.eval_weeks}",
            "recs.eval_weeks",
            rp.eval_weeks,
        ),
    ]


def _fewest_weeks(need: WeeksNeed) -> int:
    """The complete weeks ``need`` asks for with its evaluated weeks at the minimum."""
    return need.weeks - need.eval_weeks + min(need.eval_weeks, MIN_EVAL_WEEKS)


def check_dump_length(complete_weeks: int, params: Params, source: str) -> None:
    """Raise :class:`PozytywkaError` (one line) when a dump at ``source`` is too short for
    any honest evaluation of a product: fewer complete weeks than its training and
    validation weeks plus :data:`MIN_EVAL_WEEKS` evaluated weeks (a longer ``eval_weeks``
    is lowered to fit, :func:`fit_eval_weeks`)."""
    for need in weeks_needed(params):
        fewest = _fewest_weeks(need)
        if complete_weeks < fewest:
            raise PozytywkaError(
                f"{source} has {complete_weeks} complete weeks, {need.product} needs at "
                f"least {fewest} ({need.because}, with {need.eval_param} lowered to "
                f"{min(need.eval_weeks, MIN_EVAL_WEEKS)}): use a longer dump or lower the "
                "training/validation params"
            )


@dataclass(frozen=True)
class EvalWeeks:
    """The evaluated weeks of one product on one dump: asked (params) and used."""

    product: str
    param: str
    asked: int
    used: int
    why: str  # one sentence; "" when used == asked

    def record(self) -> dict:
        """``{"asked", "used", "why"}`` for a metrics file (``why`` null when not lowered)."""
        return {"asked": self.asked, "used": self.used, "why": self.why or None}


def plan_eval_weeks(complete_weeks: int, params: Params) -> list[EvalWeeks]:
    """Each product's evaluated weeks on a dump of ``complete_weeks`` complete weeks.

    ``used = min(asked, complete_weeks - (weeks the product needs besides its evaluated
    weeks))``; raises :class:`PozytywkaError` via :func:`check_dump_length` when that is
    below :data:`MIN_EVAL_WEEKS` (and below ``asked``).
    """
    check_dump_length(complete_weeks, params, "the dump")
    out = []
    for need in weeks_needed(params):
        room = complete_weeks - (need.weeks - need.eval_weeks)
        used = min(need.eval_weeks, room)
        why = ""
        if used < need.eval_weeks:
            why = (
                f"{need.eval_param} {need.eval_weeks} lowered to {used}: the dump has "
                f"{complete_weeks} complete weeks and {need.product} needs "
                f"{need.weeks - need.eval_weeks} of them for training and validation "
                f"({need.because}, less the {need.eval_weeks} evaluated)"
            )
        out.append(EvalWeeks(need.product, need.eval_param, need.eval_weeks, used, why))
    return out


def fit_eval_weeks(complete_weeks: int, params: Params) -> tuple[Params, list[EvalWeeks]]:
    """``params`` with each product's ``eval_weeks`` lowered to fit the dump
    (:func:`plan_eval_weeks`), and the plan."""
    plan = plan_eval_weeks(complete_weeks, params)
    used = {p.param: p.used for p in plan}
    fitted = dataclasses.replace(
        params,
        evaluate=dataclasses.replace(params.evaluate, eval_weeks=used["evaluate.eval_weeks"]),
        skips=dataclasses.replace(params.skips, eval_weeks=used["skips.eval_weeks"]),
        recs=dataclasses.replace(params.recs, eval_weeks=used["recs.eval_weeks"]),
    )
    return fitted, plan


#: The plan the stage entry point applied in this process (:func:`apply_to_stage`).
_APPLIED: dict[str, EvalWeeks] = {}


def apply_to_stage(params: Params, quality_path: Path, warn: bool = True) -> Params:
    """The params a stage runs with: ``eval_weeks`` fitted to the dump ``ingest`` counted
    (``quality_path``, ``metrics/data_quality.json``) when it is of ``data.source``;
    ``params`` unchanged otherwise. Logs each lowered value (a warning when ``warn``,
    else at debug level); remembered for :func:`eval_weeks_record`."""
    _APPLIED.clear()
    weeks = recorded_complete_weeks(quality_path, params.data.source)
    if weeks is None:
        return params
    fitted, plan = fit_eval_weeks(weeks, params)
    for p in plan:
        _APPLIED[p.product] = p
        if p.why:
            log.log(logging.WARNING if warn else logging.DEBUG, "%s", p.why)
    return fitted


def eval_weeks_record(params: Params, product: str) -> dict:
    """``{"asked", "used", "why"}`` of ``product`` (``playlists``, ``skips``, ``recs``) in
    this process: what :func:`apply_to_stage` applied, or the params' own value."""
    if product in _APPLIED:
        return _APPLIED[product].record()
    need = {n.product: n for n in weeks_needed(params)}[product]
    return EvalWeeks(product, need.eval_param, need.eval_weeks, need.eval_weeks, "").record()


def recorded_complete_weeks(quality_path: Path, source: str) -> int | None:
    """The complete weeks ``ingest`` counted in ``source``, from its row account
    (``metrics/data_quality.json``), or None when that account is of another dump,
    missing or unreadable."""
    try:
        quality = json.loads(quality_path.read_text(encoding="utf-8"))
        if quality.get("source") != source:
            return None
        return int(quality["window"]["complete_weeks"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
