"""The experiment read from the log, with the ``ab_test`` stage's own code.

Per listener, outcomes come from :func:`pozytywka.experiment.outcomes.user_outcomes`
(full plays by DESIGN §4, judged within a session), where a session is one
served request: a listener opening the shelf asks for playlists and what they
play from that answer is posted with its ``request_id``, as the simulation
plays each shelf visit as its own session. The statistics are
:func:`pozytywka.experiment.stats.analyse`, the function that writes
``metrics/ab.json``. Every event in the log is on a served track, so all of
them count (the simulation counts its playlist events). The analysed listeners
are those exposed in the week; a listener whose requests were served both
arms (the split changed mid-week) is left out and counted in
``excluded_both_arms``. Listeners exposed with no events count with zeros, as
in the simulation.

The read-out is meant to be refreshed while the week runs, so its ``decision``
comes from the always-valid confidence sequence (:mod:`pozytywka.experiment.sequential`),
which keeps its error rate however often it is read: "keep running" until the
sequence excludes 0 and the guardrails pass. The fixed-horizon interval (``lift``,
``ci_low``, ``ci_high``, ``p_value``) is valid at the planned horizon only.

Kill switch (:mod:`.killswitch`): when an arm of the week was stopped, only
exposures, requests and events before the stop are read (the experiment as it
was when it ended); ``stopped`` says which arm, when, and how many exposed
listeners were left out. Global holdout (:mod:`.holdout`): the listeners logged
under ``"<key>:holdout"`` are read the same way and compared with the
experiment's (``holdout`` block, :func:`pozytywka.experiment.holdout.holdout_readout`).

Answer latency (``guardrails.latency_p95``): the ``latency_ms`` of the week's
requests of each arm (:meth:`.store.Store.latency_frame`; the analysed listeners'
only, before a stop) against ``ab.guardrails.latency_p95``
(:func:`pozytywka.experiment.guardrails.latency_guardrail`). It enters the decision
like the skip rate: a failing one is "keep A", one not shown yet "keep running".
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from ..experiment.assign import HOLDOUT
from ..experiment.guardrails import latency_guardrail
from ..experiment.holdout import holdout_readout
from ..experiment.outcomes import user_outcomes
from ..experiment.stats import analyse
from .artifacts import Artifacts
from .holdout import holdout_key
from .killswitch import read_stop, stop_note
from .store import Store

MODE = "live"


def live_outcomes(
    exposed: pd.DataFrame, events: pd.DataFrame, both_arms: list[str]
) -> pd.DataFrame:
    """Per-listener outcomes (``OUTCOME_COLUMNS``) of the exposed listeners not in ``both_arms``."""
    assignment = exposed.loc[~exposed["user_id"].isin(both_arms), ["user_id", "arm"]]
    return user_outcomes(events, assignment.reset_index(drop=True))


def arm_latencies(latency: pd.DataFrame, analysed: pd.DataFrame) -> dict[str, pd.Series]:
    """``arm -> latency_ms`` of the requests (:meth:`.store.Store.latency_frame` rows) of
    the listeners in ``analysed`` (``user_id``, ``arm``: the analysed assignment)."""
    kept = latency.loc[latency["user_id"].isin(analysed["user_id"])]
    return {a: kept.loc[kept["arm"] == a, "latency_ms"].to_numpy() for a in ("A", "B")}


def read_experiment(store: Store, arts: Artifacts, week_start: dt.date) -> dict:
    """``metrics/ab.json``'s keys from the log of ``week_start``, plus the read-out's counts."""
    key = arts.experiment
    stop = read_stop(store, key, week_start)
    before, upto = (stop[1], stop[2]) if stop else (None, None)
    exposed = store.exposures_frame(key, week_start, before, upto=upto)
    both = store.listeners_in_both_arms(key, week_start, before)
    events = store.events_frame(key, week_start, before)
    outcomes = live_outcomes(exposed, events, both)
    lat = arm_latencies(store.latency_frame(key, week_start, before), outcomes)
    ab = arts.ab
    latency = latency_guardrail(
        lat["A"], lat["B"], ab.guardrails.latency_p95, ab.alpha, ab.sequential.tuning_n
    )
    result = analyse(outcomes, ab, MODE, extra_guardrails={"latency_p95": latency})
    result.update(
        experiment=key,
        week_start=week_start.isoformat(),
        listeners_exposed=int(len(exposed)),
        excluded_both_arms=len(both),
        events=int(len(events)),
    )
    if stop:
        left_out = len(store.exposures_frame(key, week_start)) - len(exposed)
        result["stopped"] = {
            "arm": stop[0],
            "stopped_at": stop[1].isoformat(),
            "listeners_after_stop": int(left_out),
            "note": stop_note(stop[0], stop[1], left_out),
        }
    held = store.exposures_frame(holdout_key(key), week_start, before, upto=upto)
    held_events = store.events_frame(holdout_key(key), week_start, before)
    held_out = user_outcomes(held_events, held.assign(arm=HOLDOUT)[["user_id", "arm"]])
    result["holdout"] = holdout_readout(pd.concat([held_out, outcomes], ignore_index=True), arts.ab)
    result["holdout"]["events"] = int(len(held_events))
    return result
