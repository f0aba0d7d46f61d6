"""Stage `recs_evaluate`: tune on validation weeks, then roll over the evaluated weeks."""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..checks import eval_weeks_record
from ..config import Params
from ..io import atomic_path, save_figure, write_csv, write_json
from ..playlists.models.catboost_model import save_catboost
from ..plotting import legend_outside, message_figure, new_figure
from ..recs.evaluate import ORACLE, evaluate, summarise
from ..recs.publish import unknown_listener_chart
from ..recs.report import vs_popularity_markdown
from ._recs_inputs import read_inputs

log = logging.getLogger(__name__)


def run(params: Params) -> None:
    rp = params.recs
    interactions, cat, features = read_inputs()
    ev = evaluate(interactions, cat, features, rp)
    summary = summarise(ev, rp)
    by_week = ev.by_week.copy()
    by_week["week_start"] = pd.to_datetime(by_week["week_start"]).dt.strftime("%Y-%m-%d")
    by_week = by_week.sort_values(["week_start", "exclude_seen", "model"], kind="stable")
    write_csv(paths.RECS_REPORTS / "by_week.csv", by_week.round(6))
    wide = by_week[~by_week["exclude_seen"].astype(bool).ne(rp.exclude_seen)].pivot(
        index="week_start", columns="model", values="ndcg_at_20"
    )
    wide = wide.drop(columns=[ORACLE], errors="ignore").reset_index()
    write_csv(paths.RECS_REPORTS / "ndcg_at_20_by_week.csv", wide.round(6))
    trials = ev.trials.copy()
    write_csv(paths.RECS_REPORTS / "tuning.csv", trials.round(6))
    ranker, ranker_cols, ranker_why = ev.next_ranker
    write_json(
        paths.RECS_TUNED,
        {
            "hyper": summary["hyper"],
            "candidate_model": summary["candidate_model"],
            "strongest_baseline": summary["strongest_baseline"],
            "best_model": summary["best_model"],
            "arm_b_model": summary["arm_b_model"],
            "arm_b_reason": summary["arm_b_reason"],
            "unknown_listener_chart": unknown_listener_chart(summary),
            "ranker_features": ranker_cols,
            "ranker_fitted": ranker is not None,
            "ranker_not_fitted_why": ranker_why,
        },
    )
    with atomic_path(paths.RECS_RANKER) as tmp:
        if ranker is not None:
            save_catboost(ranker, tmp)
        else:  # the output must exist: a note instead of a model (recs_publish reads tuned.json)
            tmp.write_text(f"no ranker: {ranker_why}\n", encoding="utf-8")
    summary["eval_weeks"] = eval_weeks_record(params, "recs")  # asked, used, why
    write_json(paths.RECS_METRICS, summary)
    (paths.RECS_REPORTS).mkdir(parents=True, exist_ok=True)
    from ..io import write_text

    write_text(paths.RECS_REPORTS / "vs_popularity.md", vs_popularity_markdown(summary))
    _plot(wide, summary)
    log.info("strongest baseline: %s; %s", summary["strongest_baseline"], summary["verdict"])
    log.info("%s", summary["arm_b_reason"])


def ndcg_figure(wide: pd.DataFrame, summary: dict):
    """NDCG@20 per evaluated week, one line per model (legend outside the data)."""
    title = "Personal recommendations: NDCG@20 per week"
    models = [c for c in wide.columns if c != "week_start"]
    if not len(wide) or not models:
        return message_figure(title, "No week was evaluated: nothing to plot.")
    fig, ax = new_figure(8.5, 4.0)
    x = range(len(wide))
    for model in models:
        mean = (summary.get(model) or {}).get("ndcg_at_20")
        label = f"{model} ({mean:.3f})" if mean is not None else model
        ax.plot(x, wide[model], marker="o", label=label)
    ax.set_xticks(list(x), wide["week_start"], rotation=30, ha="right")
    ax.set_xlabel("evaluated week (models fitted on the weeks before it)")
    ax.set_ylabel("NDCG@20, mean over listeners\n(0 to 1, higher is better)")
    ax.set_title(title)
    legend_outside(ax, fontsize=8, title="model (mean)", title_fontsize=8)
    fig.tight_layout()
    return fig


def _plot(wide: pd.DataFrame, summary: dict) -> None:
    save_figure(paths.RECS_REPORTS / "ndcg_at_20_by_week.png", ndcg_figure(wide, summary))
