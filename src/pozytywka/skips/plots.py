"""The skips product's figures (PNG for people; the CSV beside each is what `dvc plots` reads)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..plotting import legend_outside, message_figure, new_figure

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
    "skip_aware_lfu": "#17becf",
    "belady": "#2ca02c",
}


def by_week_figure(by_week: pd.DataFrame, models: tuple[str, ...]):
    """ROC AUC and log loss per evaluated week, one line per model."""
    if not len(by_week):
        return message_figure(
            "Skip models per evaluated week", "No week was evaluated: nothing to plot."
        )
    fig, axes = new_figure(10.0, 4.0, ncols=2)
    x = np.arange(len(by_week))
    panels = (
        (axes[0], "roc_auc", "ROC AUC", "ROC AUC (0.5 = chance, 1 = perfect)"),
        (axes[1], "log_loss", "log loss", "log loss of P(skip) (lower is better)"),
    )
    for ax, metric, label, axis_label in panels:
        for model in models:
            ax.plot(x, by_week[f"{model}_{metric}"], marker="o", color=COLOURS[model], label=model)
        ax.set_xticks(list(x), by_week["week_start"], rotation=30, ha="right")
        ax.set_ylabel(axis_label)
        ax.set_title(f"{label} per evaluated week")
    fig.supxlabel("evaluated week (models trained on the weeks before it)", fontsize=10)
    legend_outside(axes[1], fontsize=8)
    fig.tight_layout()
    return fig


def calibration_figure(calibration: pd.DataFrame):
    """Observed skip rate against mean predicted probability, per model."""
    if not len(calibration):
        return message_figure(
            "Calibration over the evaluated weeks", "No evaluated play: nothing to plot."
        )
    fig, ax = new_figure(5.5, 5.0)
    ax.plot([0, 1], [0, 1], color="#cccccc", linestyle="--", label="perfect")
    for model, group in calibration.groupby("model", sort=False):
        ax.plot(
            group["predicted"], group["observed"], marker="o", color=COLOURS[model], label=model
        )
    ax.set_xlabel("predicted skip probability (mean of the bin)")
    ax.set_ylabel("observed skip rate (share of the bin's plays skipped)")
    ax.set_title("Calibration over the evaluated weeks")
    # calibrated points lie near the diagonal: the top left corner is off the data
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def cost_curve_figure(
    curve: pd.DataFrame, fixed: dict[str, float], chosen: dict[str, float], weeks: int | None = None
):
    """Total cost against the decision threshold; never/always/oracle as horizontal lines."""
    title = "Cache cost against the decision threshold"
    if not len(curve):
        return message_figure(title, "No evaluated play: no cost to plot.")
    fig, ax = new_figure(8.5, 4.0)
    for model, group in curve.groupby("model", sort=False):
        ax.plot(group["threshold"], group["cost"], color=COLOURS[model], label=model)
        if model in chosen:
            ax.axvline(chosen[model], color=COLOURS[model], linestyle=":", linewidth=1)
    words = {"never": "never fetch", "always": "always fetch", "oracle": "oracle"}
    for policy, cost in fixed.items():
        label = words.get(policy, policy)
        ax.axhline(cost, color=COLOURS[policy], linestyle="--", linewidth=1, label=label)
    ax.set_xlabel("threshold: a model streams a play when its P(skip) >= it, else fetches it")
    period = f"the {weeks} evaluated weeks" if weeks else "the evaluated weeks"
    ax.set_ylabel(f"cost, currency units\n(total over {period})")
    ax.set_title(f"{title} (dotted: chosen on validation)")
    legend_outside(ax, fontsize=8)
    fig.tight_layout()
    return fig


def _percent(share: float) -> str:
    return f"{100 * share:g}%"


def server_figure(server: pd.DataFrame, weeks: int | None = None):
    """Hit ratio and byte hit ratio against cache size (a share of the catalogue's bytes)."""
    title = "Server cache"
    if not len(server):
        return message_figure(title, "No request was replayed: nothing to plot.")
    fig, axes = new_figure(10.0, 4.2, ncols=2)
    shares = sorted(server["cache_share"].unique())
    sized = server[server["cache_share"] > 0]
    catalogue_gb = float((sized["cache_gb"] / sized["cache_share"]).median()) if len(sized) else 0
    panels = (
        (axes[0], "hit_ratio", "hit ratio: share of requests\nserved from the cache"),
        (
            axes[1],
            "byte_hit_ratio",
            "byte hit ratio: share of the bytes\nread served from the cache",
        ),
    )
    for ax, metric, label in panels:
        for policy, group in server.groupby("policy", sort=False):
            ax.plot(
                group["cache_share"],
                group[metric],
                marker="o",
                color=COLOURS.get(policy),
                label=policy,
            )
        if all(s > 0 for s in shares):
            ax.set_xscale("log")
        ax.minorticks_off()
        ax.set_xticks(shares, [_percent(s) for s in shares])
        ax.set_xlabel(f"cache size, share of the catalogue's bytes ({catalogue_gb:.1f} GB)")
        ax.set_ylabel(label)
    period = f"the last {weeks} evaluated weeks" if weeks else "the last evaluated weeks"
    requests = int(server["requests"].iloc[0]) if "requests" in server else None
    fig.suptitle(
        f"{title}: {period} replayed"
        + (f" ({requests:,} requests)" if requests is not None else "")
    )
    legend_outside(axes[1], fontsize=8)
    fig.tight_layout()
    return fig
