"""Stage ``ab_test``: arm A serves the baseline's playlists, arm B CatBoost's (DESIGN §5).

Users (``data/interim/users.parquet``) are split by a salted hash. With the
synthetic dump (``data.source`` is ``data/raw/synthetic``) the generator's
behaviour model simulates the published week with each user served their
arm's playlists (``reports/playlists/by_model/``); with a real dump the arms
are replayed against the held-out last complete week (see
:mod:`pozytywka.experiment.replay`). Each user's pre-experiment covariates (their
play-through rate over the complete weeks before the A/B week, from
``data/interim/sessions.parquet``, and whether a favourite genre is on the
shelf) feed a CUPED comparison reported beside the plain one
(:mod:`pozytywka.experiment.cuped`); ``outcomes.csv`` carries them after the required
columns. Writes ``metrics/ab.json`` and, under
``reports/ab/``: ``outcomes.csv``, ``arms.csv``/``arms.png``,
``sequential.csv``/``sequential.png`` and ``summary.md``.
"""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..config import Params
from ..errors import PozytywkaError
from ..experiment.assign import HOLDOUT, assign_ab
from ..experiment.cuped import favourite_on_shelf, pre_period_counts, with_covariates
from ..experiment.guardrails import LATENCY_NOT_SIMULATED, latency_not_measured
from ..experiment.holdout import holdout_readout
from ..experiment.outcomes import daily_outcomes
from ..experiment.replay import on_served_tracks, replay_documents, week_events
from ..experiment.report import arms_figure, sequential_figure, summary_markdown
from ..experiment.simulate import (
    counted_events,
    experiment_week_seed,
    is_synthetic_source,
    shift_experiment_week,
    simulate_ab_week,
)
from ..experiment.stats import KEEP_RUNNING, analyse, arm_intervals, sequential_looks
from ..io import read_json, save_figure, write_csv, write_json, write_text
from ..playlists.publish import served_track_lists

log = logging.getLogger(__name__)

AB_ARMS_CSV = paths.AB_REPORTS / "arms.csv"
AB_ARMS_PNG = paths.AB_REPORTS / "arms.png"
AB_SEQUENTIAL_CSV = paths.AB_REPORTS / "sequential.csv"
AB_SEQUENTIAL_PNG = paths.AB_REPORTS / "sequential.png"


def _need(path):
    if not path.exists():
        raise PozytywkaError(f"{path} not found: run the earlier stages first (dvc repro)")
    return path


def _shelf_genres(docs) -> list[str]:
    """The genres of both arms' playlists: the shelf, whichever arm a user is in."""
    return sorted({str(p["genre"]) for doc in docs for p in doc.get("playlists", [])})


def _with_pre_period(
    outcomes: pd.DataFrame, users: pd.DataFrame, start: pd.Timestamp, shelf_genres: list[str]
) -> pd.DataFrame:
    """Append the CUPED covariates (:mod:`pozytywka.experiment.cuped`), known before the week."""
    sessions = pd.read_parquet(
        _need(paths.INTERIM_SESSIONS),
        columns=["session_id", "user_id", "track_id", "event_type", "timestamp"],
    )
    counts, weeks = pre_period_counts(sessions, start)
    if "favourite_genres" in users.columns:
        fav = favourite_on_shelf(users, shelf_genres)
    else:
        fav = pd.Series(0, index=users["user_id"].astype(str).to_numpy(), dtype="int64")
    log.info(
        "CUPED pre-period: %d complete weeks (%s .. %s), %d users with plays",
        len(weeks),
        weeks[0].date() if weeks else "-",
        weeks[-1].date() if weeks else "-",
        len(counts),
    )
    return with_covariates(outcomes, counts, fav)


def _simulation(params: Params, assignment: pd.DataFrame):
    from ..synthetic import build_world

    docs = {
        arm: read_json(_need(paths.PLAYLISTS_BY_MODEL / f"{model}.json"))
        for arm, model in (("A", "baseline"), ("B", "catboost"))
    }
    served = {arm: served_track_lists(doc) for arm, doc in docs.items()}
    syn = params.data.synthetic
    world = build_world(syn)
    # Simulate the week the playlists are published for. It is the world's last
    # week (index `weeks`) for a clean dump, but a dump whose last week is cut
    # short (the "heavy" dirt) publishes for the week before.
    start = pd.Timestamp(docs["B"]["week_start"])
    week = world.week_index(start)
    if not 0 <= week <= syn.weeks:
        raise PozytywkaError(
            f"playlists are for the week of {start.date()}, outside the synthetic world "
            f"({world.week_start(0).date()} .. {world.week_start(syn.weeks).date()}): "
            "were they built from another dump? Rerun the pipeline (dvc repro)"
        )
    log.info(
        "rebuilding the synthetic world and simulating week %d for %d users", week, len(assignment)
    )

    def experiment_week(k: int):
        """Week ``k`` of the experiment: its events and which of them count."""
        seed = experiment_week_seed(params.ab.seed, k)
        ev = shift_experiment_week(simulate_ab_week(world, week, assignment, served, seed), k)
        return ev, counted_events(ev, assignment, served)

    context = {"shelf_genres": _shelf_genres(docs.values()), "more_weeks": experiment_week}
    return *experiment_week(0), start, context


def _replay(params: Params, assignment: pd.DataFrame):
    backtest = pd.read_parquet(_need(paths.BACKTEST_PREDICTIONS))
    if backtest.empty:
        raise PozytywkaError(f"{paths.BACKTEST_PREDICTIONS} is empty: nothing to replay")
    from .playlists import tracks_with_artist_names

    tracks = tracks_with_artist_names(
        pd.read_parquet(_need(paths.INTERIM_TRACKS)), pd.read_parquet(_need(paths.INTERIM_ARTISTS))
    )
    held_out, docs = replay_documents(
        backtest, tracks, pd.read_parquet(_need(paths.INTERIM_TRACK_GENRES)), params.playlists
    )
    served = {arm: served_track_lists(doc) for arm, doc in docs.items()}
    log.info(
        "replaying the held-out week of %s (%s)",
        held_out.date(),
        ", ".join(f"{a}: {len(s)} playlists" for a, s in served.items()),
    )
    events = week_events(pd.read_parquet(_need(paths.INTERIM_SESSIONS)), held_out)
    context = {"shelf_genres": _shelf_genres(docs.values()), "more_weeks": None}
    counted = on_served_tracks(events, assignment, {HOLDOUT: served["A"], **served})
    return events, counted, held_out, context


def _looks(params: Params, events, counted, assignment, start, more_weeks):
    """Per-user outcomes after each day, simulating further weeks while undecided.

    Day ``d`` of experiment week ``k`` (``7k < d <= 7k + 7``) adds week ``k``'s outcomes
    up to that day (:func:`daily_outcomes`, full plays judged on that week's data) to the
    whole weeks before it. Looks stop at the first sequential decision once the planned
    horizon is read, or at ``ab.sequential.max_days`` (replay: the one held-out week).
    Returns ``(daily outcomes by day, sequential rows, decision day or None)``.
    """
    seq = params.ab.sequential
    max_days = seq.max_days if more_weeks is not None else min(seq.max_days, 7)
    before = None  # counts of the whole weeks so far
    daily: dict[int, pd.DataFrame] = {}
    rows, decided = [], None
    week_events, week_counted, k = events, counted, 0
    for day in range(1, max_days + 1):
        if day > 7 * (k + 1):
            before = daily[7 * (k + 1)]
            k += 1
            log.info("no decision by day %d: simulating experiment week %d", day - 1, k + 1)
            week_events, week_counted = more_weeks(k)
        d = day - 7 * k
        week_start = start + pd.Timedelta(days=7 * k)
        now = daily_outcomes(week_events, assignment, week_counted, week_start, [d])[d]
        if before is not None:
            counts = ["plays", "full_plays", "skips", "likes", "sessions"]
            now = now.copy()
            now[counts] = now[counts].to_numpy() + before[counts].to_numpy()
        daily[day] = now
        row = sequential_looks(now, params.ab, day, final=day == max_days)
        rows.append(row)
        if decided is None and row["decision"] != KEEP_RUNNING:
            decided = day
        if decided is not None and day >= min(seq.planned_days, max_days):
            break
    return daily, rows, decided


def run(params: Params) -> None:
    users = pd.read_parquet(_need(paths.INTERIM_USERS))
    # Held-out listeners (arm H: the baseline in every experiment key) are served arm A's
    # playlists and simulated like everyone; the A/B read-out leaves them out.
    assignment = assign_ab(users["user_id"], params.ab)
    if assignment.empty:
        raise PozytywkaError(f"{paths.INTERIM_USERS} holds no users to split into arms")
    synthetic = is_synthetic_source(params.data.source)
    mode = "simulation" if synthetic else "replay"
    events, counted, start, context = (_simulation if synthetic else _replay)(params, assignment)
    more_weeks = context.pop("more_weeks")
    # Held-out listeners (arm H) are simulated (served A) but read apart from A vs B.
    ab_only = assignment.loc[assignment["arm"] != HOLDOUT].reset_index(drop=True)
    daily, looks, decided = _looks(params, events, counted, ab_only, start, more_weeks)
    seq_params = params.ab.sequential
    planned = min(seq_params.planned_days, max(daily))
    last = max(daily)

    shelf = context.pop("shelf_genres")
    outcomes = _with_pre_period(daily[planned], users, start, shelf)
    metrics = analyse(outcomes, params.ab, mode)
    stop = decided or last
    at_stop = analyse(daily[stop], params.ab, mode, final=stop == last)
    metrics["sequential"] = {**at_stop["sequential"], "day": stop}
    # The stage simulates no server: the latency guardrail is reported, not decided on.
    metrics["guardrails"] = {
        **at_stop["guardrails"],
        "latency_p95": latency_not_measured(
            params.ab.guardrails.latency_p95, LATENCY_NOT_SIMULATED
        ),
    }
    metrics["decision"], metrics["reason"] = at_stop["decision"], at_stop["reason"]
    metrics["days"] = {
        "planned": planned,
        "max": seq_params.max_days,
        "run": last,
        "decision": decided,
    }
    seq = pd.DataFrame(looks)
    intervals = arm_intervals(outcomes, params.ab.alpha)
    # The global holdout: simulated with week 0 (served A), read on the planned day (or the
    # week's last) and compared with the experiment's listeners; in outcomes.csv as arm H.
    held = assignment.loc[assignment["arm"] == HOLDOUT]
    held_day = min(planned, 7)
    held_out = daily_outcomes(events, held, counted, start, [held_day])[held_day]
    held_out = _with_pre_period(held_out, users, start, shelf)
    metrics["holdout"] = holdout_readout(
        pd.concat([held_out, daily[held_day]], ignore_index=True), params.ab
    )
    metrics["bucket_version"] = params.ab.bucket_version
    outcomes = pd.concat([outcomes, held_out], ignore_index=True)
    outcomes = outcomes.sort_values("user_id", kind="mergesort").reset_index(drop=True)
    confidence = 1 - params.ab.alpha
    write_csv(paths.AB_OUTCOMES, outcomes)
    write_csv(AB_ARMS_CSV, intervals)
    write_csv(AB_SEQUENTIAL_CSV, seq)
    save_figure(AB_ARMS_PNG, arms_figure(intervals, confidence))
    save_figure(AB_SEQUENTIAL_PNG, sequential_figure(seq, confidence))
    write_json(paths.AB_METRICS, metrics)
    context["week_start"] = start.strftime("%Y-%m-%d")
    write_text(paths.AB_SUMMARY, summary_markdown(metrics, context))
    log.info(
        "A/B (%s): PTR A %s vs B %s, lift %s [%s, %s], p %s, MDE %s (day %d); "
        "sequential: %s on day %s",
        mode,
        metrics["arms"]["A"]["play_through_rate"],
        metrics["arms"]["B"]["play_through_rate"],
        metrics["lift"],
        metrics["ci_low"],
        metrics["ci_high"],
        metrics["p_value"],
        metrics["mde"],
        planned,
        metrics["decision"],
        stop,
    )
