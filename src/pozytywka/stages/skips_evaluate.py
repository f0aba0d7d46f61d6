"""Stage ``skips_evaluate``: rolling-week backtest of the baselines and CatBoost.

Reads ``data/processed/skips/plays.parquet``; writes ``metrics/skips.json``,
``reports/skips/`` (``by_week.csv``/``.png``, ``calibration.csv``/``.png``) and the
predictions the cache stage replays (``data/processed/skips/predictions.parquet``).
"""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..checks import eval_weeks_record
from ..config import Params
from ..errors import PozytywkaError
from ..io import save_figure, write_csv, write_json, write_parquet
from ..skips.evaluate import (
    BASELINES,
    MODELS,
    calibration_table,
    run_backtest,
    summarise,
    weekly_metrics,
)
from ..skips.plots import by_week_figure, calibration_figure

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    if not paths.SKIPS_TABLE.exists():
        raise PozytywkaError(f"{paths.SKIPS_TABLE} not found: run `dvc repro skips_features` first")
    table = pd.read_parquet(paths.SKIPS_TABLE)
    predictions, fit_log = run_backtest(table, params.skips)
    for row in fit_log.itertuples():
        if row.not_fitted:
            log.warning(
                "week %s: CatBoost not fitted (%s): the listener's own rate stands in",
                row.week_start.date(),
                row.not_fitted,
            )
            continue
        log.info(
            "week %s: trained on weeks <= %s (%d plays, %d fitted), early-stopped on <= %s, "
            "best iteration %d",
            row.week_start.date(),
            row.last_train_week.date(),
            row.n_train_rows,
            row.n_fit_rows,
            row.last_valid_week.date(),
            row.best_iteration,
        )
    weekly = weekly_metrics(predictions)
    summary = summarise(weekly, fit_log)
    by_week = weekly.copy()
    by_week["week_start"] = by_week["week_start"].dt.strftime("%Y-%m-%d")
    calibration = calibration_table(predictions)
    write_parquet(paths.SKIPS_PREDICTIONS, predictions)
    summary["eval_weeks"] = eval_weeks_record(params, "skips")  # asked, used, why
    write_json(paths.SKIPS_METRICS, summary)
    write_csv(paths.SKIPS_REPORTS / "by_week.csv", by_week.round(6))
    write_csv(paths.SKIPS_REPORTS / "calibration.csv", calibration.round(6))
    save_figure(paths.SKIPS_REPORTS / "by_week.png", by_week_figure(by_week, MODELS))
    save_figure(paths.SKIPS_REPORTS / "calibration.png", calibration_figure(calibration))
    for metric, note in summary["undefined"].items():
        log.warning("%s: %s", metric, note)
    log.info(
        "CatBoost against the strongest rule (%s): %s; better than %s on ROC AUC and log loss "
        "in %s of %d weeks",
        summary["strongest_baseline"],
        summary["verdict"],
        ", ".join(BASELINES),
        "/".join(str(summary["catboost_better_weeks"][b]) for b in BASELINES),
        summary["weeks_evaluated"],
    )
