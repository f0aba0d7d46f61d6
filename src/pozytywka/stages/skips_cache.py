"""Stage ``skips_cache``: what the skip predictions are worth in a cache (DESIGN §10).

Replays the backtest's evaluated plays (``data/processed/skips/predictions.parquet``)
with each policy's fetch-or-stream decision and prices them
(:mod:`pozytywka.skips.cache`); then the server-side cache view over the last
``skips.cache.server_weeks`` evaluated weeks. Writes ``metrics/cache.json`` and
``reports/cache/`` (``by_week.csv``, ``cost_vs_threshold.csv``/``.png``,
``server.csv``/``.png``, ``server_validation.csv``).

The server-side view replays the last ``server_weeks`` evaluated weeks; the policy it
recommends, and the skip model the skip-aware policies use (lowest log loss), are
chosen on the evaluated weeks just before them (:func:`pozytywka.skips.cache.server_split`),
never on the replayed weeks; ``server.skip_awareness`` says in words whether the
skip-aware variants beat their plain policies.

On the synthetic dump (``data.source`` is the ``generate`` stage's output) it also
scores the Bayes-optimal model, the behaviour model's own skip probability of
each play (:mod:`pozytywka.skips.ceiling`, the world rebuilt from
``data.synthetic``), with the same costs and threshold rule: ``bayes`` in
``metrics/cache.json``, the ceiling of the share of the oracle's saving any skip
model can capture on these data. A real dump has no such section.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from .. import paths
from ..config import Params
from ..errors import PozytywkaError
from ..io import save_figure, write_csv, write_json
from ..skips.cache import (
    GB,
    SERVER_POLICIES,
    chance_note,
    choose_skip_model,
    lfu_weights,
    play_costs,
    recommend_server_policy,
    server_split,
    server_view,
    simulate_policies,
    skip_awareness_notes,
    summarise_policies,
)
from ..skips.ceiling import BAYES, bayes_ceiling, generator_skip_probability
from ..skips.evaluate import MODELS, THRESHOLD_GRID
from ..skips.plots import cost_curve_figure, server_figure

log = logging.getLogger(__name__)
CURVE_GRID = np.round(np.linspace(0.0, 1.0, 51), 4)


def server_metrics(server: pd.DataFrame) -> dict:
    """Per server policy: ``hit_ratio_at_<share>``, ``byte_hit_ratio_at_<share>`` and
    ``origin_gb_at_<share>`` (GB read from slow storage)."""
    out: dict = {}
    for row in server.itertuples():
        section = out.setdefault(row.policy, {})
        section[f"hit_ratio_at_{row.cache_share:g}"] = round(float(row.hit_ratio), 6)
        section[f"byte_hit_ratio_at_{row.cache_share:g}"] = round(float(row.byte_hit_ratio), 6)
        section[f"origin_gb_at_{row.cache_share:g}"] = round(float(row.origin_gb), 6)
    return out


def server_requests(rows: pd.DataFrame, costs_of, summary: dict, model: str, skip_point: float):
    """The requests of ``rows`` in time order with the skip-aware rules' inputs:
    (requests, admission of skip-aware LRU, weights of skip-aware LFU) from ``model``'s
    P(skip) and its cache threshold."""
    requests = costs_of(rows).sort_values(["ts", "play_id"], kind="stable")
    p = requests[f"p_{model}"].to_numpy()
    return requests, p < summary[model]["threshold"], lfu_weights(p, skip_point)


def ceiling(params: Params, predictions: pd.DataFrame, costs_of) -> dict:
    """The ``bayes`` section: the generator's skip probabilities scored as a cache policy."""
    from ..synthetic import build_world

    world = build_world(params.data.synthetic)
    weeks = predictions["week_start"].unique()
    plays = pd.read_parquet(
        paths.SKIPS_TABLE,
        columns=["play_id", "session_id", "user_id", "track_id", "ts", "week_start"],
    )
    plays = plays[plays["week_start"].isin(weeks)].reset_index(drop=True)
    p = pd.Series(generator_skip_probability(world, plays), index=plays["play_id"].to_numpy())
    return bayes_ceiling(
        predictions, predictions["play_id"].map(p).to_numpy(), costs_of, THRESHOLD_GRID
    )


def run(params: Params) -> None:
    inputs = (
        paths.SKIPS_PREDICTIONS,
        paths.SKIPS_TABLE,
        paths.INTERIM_TRACKS,
        paths.INTERIM_STORAGE,
    )
    for path in inputs:
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run the earlier stages first (dvc repro)")
    cp = params.skips.cache
    predictions = pd.read_parquet(paths.SKIPS_PREDICTIONS)
    plays = pd.read_parquet(paths.SKIPS_TABLE, columns=["play_id", "track_id", "skip_after_s"])
    plays = plays[plays["play_id"].isin(predictions["play_id"].unique())]
    tracks = pd.read_parquet(paths.INTERIM_TRACKS, columns=["track_id", "duration_ms"])
    storage = pd.read_parquet(paths.INTERIM_STORAGE)

    # each play's costs depend only on the play: price every evaluated play once
    priced = play_costs(
        predictions[["play_id", "skipped"]]
        .drop_duplicates("play_id")
        .merge(plays, on="play_id", how="left"),
        tracks,
        storage,
        cp,
    ).drop(columns="skipped")

    def costs_of(rows: pd.DataFrame) -> pd.DataFrame:
        """:func:`play_costs` of ``rows`` (same order; plays of tracks without size dropped)."""
        return rows.merge(priced, on="play_id", how="inner")

    weekly, curve = simulate_policies(predictions, costs_of, MODELS, THRESHOLD_GRID)
    summary = summarise_policies(weekly)
    curve = curve[curve["threshold"].isin(CURVE_GRID)]

    valid_weeks, last = server_split(list(predictions["eval_week"].unique()), cp.server_weeks)
    ev = predictions[predictions["role"] == "eval"]
    served = ev[ev["eval_week"].isin(last)]
    if valid_weeks:
        checked = ev[ev["eval_week"].isin(valid_weeks)]
        how = "the evaluated weeks just before the replayed ones"
    else:
        checked = predictions[
            (predictions["role"] == "valid") & (predictions["eval_week"] == last[0])
        ]
        valid_weeks = sorted(checked["week_start"].unique())
        how = "the first replayed week's validation weeks (every evaluated week is replayed)"
    skip_model, losses = choose_skip_model(checked, MODELS)
    dur = tracks.drop_duplicates("track_id")["duration_ms"].astype(float)
    catalogue_bytes = float(dur[dur > 0].sum()) / 1000.0 * cp.bitrate_kbps * 1000.0 / 8.0
    sizes = list(cp.server_sizes)
    v_req, v_admit, v_w = server_requests(checked, costs_of, summary, skip_model, cp.skip_point)
    valid_view = server_view(v_req, catalogue_bytes, sizes, v_admit, v_w)
    recommended = recommend_server_policy(valid_view)
    requests, admit, weights = server_requests(served, costs_of, summary, skip_model, cp.skip_point)
    server = server_view(requests, catalogue_bytes, sizes, admit, weights)
    notes = skip_awareness_notes(server)
    at_chance = chance_note(skip_model, checked)
    if at_chance:
        notes.append(at_chance)
    # the test of experiment.simulate.is_synthetic_source (not imported: the A/B code with it)
    if Path(params.data.source).resolve() == paths.RAW_SYNTHETIC.resolve():
        summary[BAYES] = ceiling(params, predictions, costs_of)
        log.info(
            "Bayes-optimal model (the generator's own P(skip)): ROC AUC %.4f, captures %.1f%% "
            "of the oracle's saving",
            summary[BAYES]["roc_auc"],
            100 * summary[BAYES]["share_of_oracle_saving"],
        )
    doc = {
        "weeks": int(weekly["week_start"].nunique()),
        "plays": int(weekly[weekly["policy"] == "always"]["plays"].sum()),
        **summary,
        "server": {
            "weeks": len(last),
            "replayed_weeks": [pd.Timestamp(w).strftime("%Y-%m-%d") for w in last],
            "requests": int(len(requests)),
            "catalogue_gb": round(catalogue_bytes / GB, 6),
            "validation": {
                "weeks": [pd.Timestamp(w).strftime("%Y-%m-%d") for w in valid_weeks],
                "chosen_on": how,
                "requests": int(len(v_req)),
                "skip_model": skip_model,
                "skip_model_log_loss": losses,
                **{f"{k}": v for k, v in server_metrics(valid_view).items()},
            },
            "recommended": recommended["policy"],
            "recommended_by_size": recommended["by_size"],
            "skip_awareness": notes,
            **server_metrics(server),
        },
    }
    by_week = weekly.copy()
    by_week["week_start"] = pd.to_datetime(by_week["week_start"]).dt.strftime("%Y-%m-%d")
    write_json(paths.CACHE_METRICS, doc)
    write_csv(paths.CACHE_REPORTS / "by_week.csv", by_week.round(6))
    write_csv(paths.CACHE_REPORTS / "cost_vs_threshold.csv", curve.round(6))
    write_csv(paths.CACHE_REPORTS / "server.csv", server.round(6))
    write_csv(paths.CACHE_REPORTS / "server_validation.csv", valid_view.round(6))
    fixed = {p: summary[p]["cost"] for p in ("never", "always", "oracle")}
    chosen = {m: summary[m]["threshold"] for m in MODELS}
    save_figure(
        paths.CACHE_REPORTS / "cost_vs_threshold.png",
        cost_curve_figure(curve, fixed, chosen, doc["weeks"]),
    )
    save_figure(paths.CACHE_REPORTS / "server.png", server_figure(server, len(last)))
    log.info(
        "cache: always %.2f, never %.2f, oracle %.2f, CatBoost %.2f (captures %.1f%% of the "
        "oracle's saving); server policies %s",
        summary["always"]["cost"],
        summary["never"]["cost"],
        summary["oracle"]["cost"],
        summary["catboost"]["cost"],
        100 * summary["catboost"]["share_of_oracle_saving"],
        ", ".join(SERVER_POLICIES),
    )
    log.info(
        "server cache: skip model %s (lowest validation log loss), recommended %s (best byte "
        "hit ratio on %s)",
        skip_model,
        recommended["policy"],
        how,
    )
    for note in notes:
        log.info("server cache: %s", note)
