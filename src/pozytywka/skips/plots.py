"""The skips product's figures (PNG for people; the CSV beside each is what `dvc plots` reads)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..plotting import new_figure

COLOURS = {
    "genre_rule": "#8c8c8c",
    "previous_outcome": "#bcbd22",
    "listener_rate": "#9467bd",
    "catboost": "#1f77b4",
    "never": "#d62728",
    "always": "#ff7f0e",
    "oracle": "#2ca02c",
    "lru": "#8c8c8c",
    "lfu": "#9467bd",
    "skip_aware_lru": "#1f77b4",
    "belady": "#2ca02c",
}


def by_week_figure(by_week: pd.DataFrame, models: tuple[str, ...]):
    """ROC AUC and log loss per evaluated week, one line per model."""
    fig, axes = new_figure(10.0, 4.0, ncols=2)
    x = np.arange(len(by_week))
    for ax, metric, label in ((axes[0], "roc_auc", "ROC AUC"), (axes[1], "log_loss", "log loss")):
        for model in models:
            ax.plot(x, by_week[f"{model}_{metric}"], marker="o", color=COLOURS[model], label=model)
        ax.set_xticks(list(x), by_week["week_start"], rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.set_title(f"{label} per evaluated week")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def calibration_figure(calibration: pd.DataFrame):
    """Observed skip rate against mean predicted probability, per model."""
    fig, ax = new_figure(5.5, 5.0)
    ax.plot([0, 1], [0, 1], color="#cccccc", linestyle="--", label="perfect")
    for model, group in calibration.groupby("model", sort=False):
        ax.plot(
            group["predicted"], group["observed"], marker="o", color=COLOURS[model], label=model
        )
    ax.set_xlabel("predicted skip probability (bin mean)")
    ax.set_ylabel("observed skip rate")
    ax.set_title("Calibration over the evaluated weeks")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def cost_curve_figure(curve: pd.DataFrame, fixed: dict[str, float], chosen: dict[str, float]):
    """Total cost against the decision threshold; never/always/oracle as horizontal lines."""
    fig, ax = new_figure()
    for model, group in curve.groupby("model", sort=False):
        ax.plot(group["threshold"], group["cost"], color=COLOURS[model], label=model)
        if model in chosen:
            ax.axvline(chosen[model], color=COLOURS[model], linestyle=":", linewidth=1)
    for policy, cost in fixed.items():
        ax.axhline(cost, color=COLOURS[policy], linestyle="--", linewidth=1, label=policy)
    ax.set_xlabel("threshold: stream when P(skip) >= it")
    ax.set_ylabel("total cost over the evaluated weeks")
    ax.set_title("Cache cost against the decision threshold (dotted: chosen on validation)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def server_figure(server: pd.DataFrame):
    """Hit ratio and byte hit ratio against cache size, per policy."""
    fig, axes = new_figure(10.0, 4.0, ncols=2)
    for ax, metric in ((axes[0], "hit_ratio"), (axes[1], "byte_hit_ratio")):
        for policy, group in server.groupby("policy", sort=False):
            ax.plot(
                group["cache_gb"], group[metric], marker="o", color=COLOURS[policy], label=policy
            )
        ax.set_xscale("log")
        ax.set_xlabel("cache size (GB)")
        ax.set_ylabel(metric.replace("_", " "))
    axes[0].set_title("Server cache: hit ratio")
    axes[1].set_title("Server cache: byte hit ratio")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig
