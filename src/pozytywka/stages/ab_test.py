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
from ..experiment.holdout import experiment_only, holdout_readout
from ..experiment.outcomes import daily_outcomes, user_outcomes
from ..experiment.replay import on_served_tracks, replay_documents, week_events
from ..experiment.report import arms_figure, sequential_figure, summary_markdown
from ..experiment.simulate import counted_events, is_synthetic_source, simulate_ab_week
from ..experiment.stats import analyse, arm_intervals, sequential_view
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
    events = simulate_ab_week(world, week, assignment, served, params.ab.seed)
    context = {"shelf_genres": _shelf_genres(docs.values())}
    return events, counted_events(events, assignment, served), start, context


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
    context = {"shelf_genres": _shelf_genres(docs.values())}
    counted = on_served_tracks(events, assignment, {HOLDOUT: served["A"], **served})
    return events, counted, held_out, context


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

    outcomes = user_outcomes(events, assignment, counted)
    outcomes = _with_pre_period(outcomes, users, start, context.pop("shelf_genres"))
    in_experiment = experiment_only(outcomes)
    metrics = analyse(in_experiment, params.ab, mode)
    metrics["holdout"] = holdout_readout(outcomes, params.ab)
    metrics["bucket_version"] = params.ab.bucket_version
    ab_only = assignment.loc[assignment["arm"] != HOLDOUT]
    seq = sequential_view(daily_outcomes(events, ab_only, counted, start), params.ab)
    intervals = arm_intervals(in_experiment, params.ab.alpha)
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
        "A/B (%s): PTR A %s vs B %s, lift %s [%s, %s], p %s, MDE %s -> %s",
        mode,
        metrics["arms"]["A"]["play_through_rate"],
        metrics["arms"]["B"]["play_through_rate"],
        metrics["lift"],
        metrics["ci_low"],
        metrics["ci_high"],
        metrics["p_value"],
        metrics["mde"],
        metrics["decision"],
    )
