"""Stage ``skips_cache``: what the skip predictions are worth in a cache (DESIGN §10).

Replays the backtest's evaluated plays (``data/processed/skips/predictions.parquet``)
with each policy's fetch-or-stream decision and prices them
(:mod:`pozytywka.skips.cache`); then the server-side cache view over the last
``skips.cache.server_weeks`` evaluated weeks. Writes ``metrics/cache.json`` and
``reports/cache/`` (``by_week.csv``, ``cost_vs_threshold.csv``/``.png``,
``server.csv``/``.png``).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .. import paths
from ..config import Params
from ..errors import PozytywkaError
from ..io import save_figure, write_csv, write_json
from ..skips.cache import (
    GB,
    SERVER_POLICIES,
    play_costs,
    server_view,
    simulate_policies,
    summarise_policies,
)
from ..skips.evaluate import MODELS, THRESHOLD_GRID
from ..skips.plots import cost_curve_figure, server_figure

log = logging.getLogger(__name__)
CURVE_GRID = np.round(np.linspace(0.0, 1.0, 51), 4)


def server_metrics(server: pd.DataFrame) -> dict:
    """Per server policy: ``hit_ratio_at_<share>`` and ``byte_hit_ratio_at_<share>``."""
    out: dict = {}
    for row in server.itertuples():
        section = out.setdefault(row.policy, {})
        section[f"hit_ratio_at_{row.cache_share:g}"] = round(float(row.hit_ratio), 6)
        section[f"byte_hit_ratio_at_{row.cache_share:g}"] = round(float(row.byte_hit_ratio), 6)
    return out


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
    plays = pd.read_parquet(
        paths.SKIPS_TABLE, columns=["play_id", "track_id", "ts", "skip_after_s"]
    )
    plays = plays[plays["play_id"].isin(predictions["play_id"].unique())]
    tracks = pd.read_parquet(paths.INTERIM_TRACKS, columns=["track_id", "duration_ms"])
    storage = pd.read_parquet(paths.INTERIM_STORAGE)

    def costs_of(rows: pd.DataFrame) -> pd.DataFrame:
        return play_costs(rows.merge(plays, on="play_id", how="left"), tracks, storage, cp)

    weekly, curve = simulate_policies(predictions, costs_of, MODELS, THRESHOLD_GRID)
    summary = summarise_policies(weekly)
    curve = curve[curve["threshold"].isin(CURVE_GRID)]

    last = sorted(predictions["eval_week"].unique())[-cp.server_weeks :]
    served = predictions[(predictions["role"] == "eval") & predictions["eval_week"].isin(last)]
    requests = costs_of(served).sort_values(["ts", "play_id"], kind="stable")
    admit = requests["p_catboost"].to_numpy() < summary["catboost"]["threshold"]
    dur = tracks.drop_duplicates("track_id")["duration_ms"].astype(float)
    catalogue_bytes = float(dur[dur > 0].sum()) / 1000.0 * cp.bitrate_kbps * 1000.0 / 8.0
    server = server_view(requests, catalogue_bytes, list(cp.server_sizes), admit)
    doc = {
        "weeks": int(weekly["week_start"].nunique()),
        "plays": int(weekly[weekly["policy"] == "always"]["plays"].sum()),
        **summary,
        "server": {
            "weeks": len(last),
            "requests": int(len(requests)),
            "catalogue_gb": round(catalogue_bytes / GB, 6),
            **server_metrics(server),
        },
    }
    by_week = weekly.copy()
    by_week["week_start"] = pd.to_datetime(by_week["week_start"]).dt.strftime("%Y-%m-%d")
    write_json(paths.CACHE_METRICS, doc)
    write_csv(paths.CACHE_REPORTS / "by_week.csv", by_week.round(6))
    write_csv(paths.CACHE_REPORTS / "cost_vs_threshold.csv", curve.round(6))
    write_csv(paths.CACHE_REPORTS / "server.csv", server.round(6))
    fixed = {p: summary[p]["cost"] for p in ("never", "always", "oracle")}
    chosen = {m: summary[m]["threshold"] for m in MODELS}
    save_figure(
        paths.CACHE_REPORTS / "cost_vs_threshold.png", cost_curve_figure(curve, fixed, chosen)
    )
    save_figure(paths.CACHE_REPORTS / "server.png", server_figure(server))
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
