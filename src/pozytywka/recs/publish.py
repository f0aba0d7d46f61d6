"""Next week's recommendations for every listener, for both arms of the live experiment.

The week published is the one after the last complete week (DESIGN §4). Every
model is fitted on all complete weeks with the hyper-params tuned by
``recs_evaluate``; the re-ranker is the one ``recs_evaluate`` learnt on the
``rerank.train_weeks`` last complete weeks, exactly as in the rolling evaluation
(``models/recs/ranker.cbm``: their candidate frames were built there already;
when none could be learnt, ``ranker_fitted`` is false and the candidate order stands).
Arm A is popularity in the listener's favourite genres; arm B is ``arm_b_model`` of
``recs_evaluate`` (:func:`pozytywka.recs.evaluate.choose_arm_b`): the best model
only if it beat the dump's strongest baseline on the validation weeks, otherwise
that baseline (an A/A test when it is arm A's: the metrics say so).

Output (:func:`publish`), one row per (listener, arm, rank): ``week_start``
(``YYYY-MM-DD``), ``user_id``, ``arm`` (A/B), ``model``, ``rank`` (1 = first),
``track_id``, ``source`` (``model``, or ``popularity fallback (no history)`` for a
listener with no interactions before the week: they get arm A's list in both arms).
The second output is the list for a listener the dump does not know (no favourite
genres either): a chart, ``unknown_listener_chart`` of the tuned output
(:func:`unknown_listener_chart`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import RecsParams
from ..weeks import WEEK
from .evaluate import FALLBACK, RERANK, fit_model, run_week
from .interactions import Catalogue
from .rerank import rerank

MODEL_SOURCE = "model"
FALLBACK_SOURCE = "popularity fallback (no history)"
COLUMNS = ["week_start", "user_id", "arm", "model", "rank", "track_id", "source"]


def publish(
    interactions: pd.DataFrame,
    cat: Catalogue,
    playlist_features: pd.DataFrame,
    rp: RecsParams,
    tuned: dict,
    ranker: object | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every listener's lists for both arms, the fallback list for unknown listeners).

    ``tuned``: the ``recs_evaluate`` output (``hyper``, ``candidate_model``,
    ``arm_b_model``, ``ranker_features``); ``ranker``: the CatBoost ranker
    ``recs_evaluate`` learnt for the week after the data (needed when arm B is the
    re-ranker).
    """
    weeks = sorted(pd.DatetimeIndex(interactions["week_start"].unique()))
    target = weeks[-1] + WEEK
    hyper, cand_model, best = tuned["hyper"], tuned["candidate_model"], tuned["arm_b_model"]
    hyper = {m: {**h, "seed": rp.seed} for m, h in hyper.items()}
    users = np.arange(len(cat.users))
    run = run_week(
        interactions,
        cat,
        target,
        rp,
        hyper,
        cand_model if best == RERANK else None,
        playlist_features,
        users=users,
        k=rp.k,
        models=None if best == RERANK else (best,),  # the re-ranker's features: every model
    )
    lists = {"A": (FALLBACK, run.recs[(FALLBACK, rp.exclude_seen)])}
    if best == RERANK:  # no ranker (none could be learnt): the candidate order stands
        cols = list(tuned["ranker_features"])
        lists["B"] = (RERANK, rerank(ranker, cols, run.frame, len(users), rp.k, rp.exclude_seen))
    else:
        lists["B"] = (best, run.recs[(best, rp.exclude_seen)])
    cold = np.diff(run.data.matrix.indptr) == 0
    # a listener with no history gets the fallback in both arms (the answer says so)
    lists["B"][1][cold] = lists["A"][1][cold]
    frames = []
    for arm, (model, recs) in lists.items():
        n, k = recs.shape
        frames.append(
            pd.DataFrame(
                {
                    "user_id": np.repeat(cat.users.to_numpy(), k),
                    "arm": arm,
                    "model": model,
                    "rank": np.tile(np.arange(1, k + 1), n),
                    "track_id": cat.items.to_numpy()[recs.ravel()],
                    "source": np.where(np.repeat(cold, k), FALLBACK_SOURCE, MODEL_SOURCE),
                }
            )
        )
    out = pd.concat(frames, ignore_index=True)
    out.insert(0, "week_start", target.strftime("%Y-%m-%d"))
    out = out.sort_values(["user_id", "arm", "rank"], kind="stable").reset_index(drop=True)
    chart_model = tuned.get("unknown_listener_chart", "popularity")
    chart = fit_model(chart_model, hyper.get(chart_model, {}), run.data, None).recommend(
        np.array([0]), rp.k, exclude_seen=False
    )[0]
    fallback = pd.DataFrame(
        {
            "week_start": target.strftime("%Y-%m-%d"),
            "rank": np.arange(1, len(chart) + 1),
            "track_id": cat.items.to_numpy()[chart],
        }
    )
    return out[COLUMNS], fallback


def unknown_listener_chart(summary: dict) -> str:
    """The chart served to a listener the dump does not know: ``popularity`` (recent) or
    ``popularity_all``, whichever had the better validation NDCG@20 (recent on ties).

    ``summary``: the ``metrics/recs.json`` mapping (each model's ``valid_ndcg_at_20``).
    """
    recent = (summary.get("popularity") or {}).get("valid_ndcg_at_20")
    whole = (summary.get("popularity_all") or {}).get("valid_ndcg_at_20")
    if whole is not None and (recent is None or whole > recent):
        return "popularity_all"
    return "popularity"


def sample_markdown(
    published: pd.DataFrame,
    tracks: pd.DataFrame,
    artists: pd.DataFrame,
    n_listeners: int = 5,
    k: int = 10,
) -> str:
    """A few listeners' lists side by side (A | B) for people: the first listeners by id
    with history and the first without, top ``k`` each."""
    from ..markdown import table

    names = tracks.assign(track_id=tracks["track_id"].astype(str)).merge(
        artists.rename(columns={"name": "artist"})[["artist_id", "artist"]],
        on="artist_id",
        how="left",
    )
    label = names["name"].astype(str) + " — " + names["artist"].fillna("?").astype(str)
    label = pd.Series(label.to_numpy(), index=names["track_id"]).groupby(level=0).first()
    week = published["week_start"].iloc[0] if len(published) else "?"
    src = published.drop_duplicates("user_id").set_index("user_id")["source"]
    chosen = list(src[src == MODEL_SOURCE].index[:n_listeners]) + list(
        src[src != MODEL_SOURCE].index[:1]
    )
    lines = [f"# Personal recommendations for the week of {week}", ""]
    lines.append(
        "Arm A: popularity in the listener's favourite genres; arm B: "
        f"`{published[published['arm'] == 'B']['model'].iloc[0] if len(published) else '?'}`. "
        f"First {k} of each list; {published['user_id'].nunique()} listeners in "
        "`data/serving/recs.parquet`."
    )
    for user in chosen:
        rows = published[(published["user_id"] == user) & (published["rank"] <= k)]
        a = rows[rows["arm"] == "A"]["track_id"].map(label).fillna("?").tolist()
        b = rows[rows["arm"] == "B"]["track_id"].map(label).fillna("?").tolist()
        lines += ["", f"## Listener {user} ({src[user]})", ""]
        lines.append(
            table(
                ["rank", "A", "B"],
                [[i + 1, x, y] for i, (x, y) in enumerate(zip(a, b, strict=False))],
            )
        )
    return "\n".join(lines) + "\n"
