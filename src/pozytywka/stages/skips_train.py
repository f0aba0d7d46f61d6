"""Stage ``skips_train``: the skip models the service uses for the week after the data.

The rule baselines and CatBoost are fitted on the ``skips.train_weeks`` weeks
before the last ``skips.valid_weeks`` complete weeks and CatBoost early-stopped on
those (as each backtest week is, :mod:`pozytywka.skips.evaluate`). Each model's
caching threshold (stream when P(skip) >= it) is chosen on the validation weeks by
the cache costs. Writes ``models/skips/catboost.cbm``, ``baselines.json`` and
``meta.json`` (features, weeks, thresholds, prior, serving week).
"""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..config import Params, as_dict
from ..errors import PozytywkaError
from ..io import write_json
from ..playlists.models.catboost_model import save_catboost
from ..skips.baselines import fit_baselines
from ..skips.cache import best_cost_threshold, play_costs
from ..skips.evaluate import (
    THRESHOLD_GRID,
    best_threshold,
    cannot_fit,
    fitting_rows,
    predict_all,
    sample_listeners,
)
from ..skips.features import FEATURE_COLUMNS
from ..skips.model import train_classifier
from ..weeks import WEEK

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    for path in (paths.SKIPS_TABLE, paths.INTERIM_TRACKS, paths.INTERIM_STORAGE):
        if not path.exists():
            raise PozytywkaError(f"{path} not found: run the earlier stages first (dvc repro)")
    sk = params.skips
    table = pd.read_parquet(paths.SKIPS_TABLE)
    weeks = sorted(pd.Timestamp(w) for w in table["week_start"].unique())
    if len(weeks) < sk.train_weeks + sk.valid_weeks:
        raise PozytywkaError(
            f"skips: {len(weeks)} complete weeks, need skips.train_weeks ({sk.train_weeks}) + "
            f"skips.valid_weeks ({sk.valid_weeks}) to train"
        )
    serve_week = weeks[-1] + WEEK
    valid_weeks = weeks[-sk.valid_weeks :]
    train_weeks = weeks[-sk.valid_weeks - sk.train_weeks : -sk.valid_weeks]
    train = fitting_rows(table, train_weeks, serve_week)
    valid = fitting_rows(table, valid_weeks, serve_week)
    reason = cannot_fit(train, valid)
    if reason:
        raise PozytywkaError(f"skips: cannot train the served model: {reason}")
    baselines = fit_baselines(train)
    fit = sample_listeners(train, sk.max_train_rows, sk.catboost.random_seed)
    model = train_classifier(fit, valid, sk.catboost)
    probs = predict_all(baselines, model, valid)
    costs = play_costs(
        valid.assign(**{f"p_{m}": p for m, p in probs.items()}),
        pd.read_parquet(paths.INTERIM_TRACKS, columns=["track_id", "duration_ms"]),
        pd.read_parquet(paths.INTERIM_STORAGE),
        sk.cache,
    )
    thresholds = {
        m: {
            "cache": best_cost_threshold(costs, costs[f"p_{m}"].to_numpy(), THRESHOLD_GRID),
            "accuracy": best_threshold(valid["skipped"].to_numpy(), p),
        }
        for m, p in probs.items()
    }
    paths.SKIPS_MODELS.mkdir(parents=True, exist_ok=True)
    save_catboost(model, paths.SKIPS_CATBOOST)
    write_json(paths.SKIPS_BASELINES, baselines)
    write_json(
        paths.SKIPS_META,
        {
            "features": FEATURE_COLUMNS,
            "train_weeks": [w.strftime("%Y-%m-%d") for w in train_weeks],
            "valid_weeks": [w.strftime("%Y-%m-%d") for w in valid_weeks],
            "serve_week": serve_week.strftime("%Y-%m-%d"),
            "best_iteration": int(model.get_best_iteration() or 0),
            "n_train_rows": len(train),
            "n_fit_rows": len(fit),
            "thresholds": thresholds,
            "prior_plays": sk.prior_plays,
            "params": as_dict(sk),
        },
    )
    log.info(
        "skips model for the week of %s: trained on %d plays, best iteration %d, "
        "cache threshold %.3f",
        serve_week.date(),
        len(train),
        int(model.get_best_iteration() or 0),
        thresholds["catboost"]["cache"],
    )
