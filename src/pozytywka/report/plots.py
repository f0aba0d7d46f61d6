"""Before/after plots for the PR report, rendered with matplotlib from the data files.

The stages' own PNGs show one revision; a reviewer wants both on one chart. The
data is read from git (base) and the workspace (this PR), so nothing here needs
DVC's Vega tooling (which needs Node canvas packages and breaks on ``Infinity``).
Base is dashed and faded, this PR solid: the same convention in every plot.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from ..io import save_figure
from ..plotting import MODEL_COLOURS, new_figure

OFFLINE_COLUMNS = {"baseline": "baseline_ndcg_at_k", "catboost": "catboost_ndcg_at_k"}
AB_PANELS = (
    ("play_through_rate", "play-through rate"),
    ("likes_per_user", "likes per user"),
    ("skips_per_user", "skips per user"),
)


def plot_offline_by_week(
    before: pd.DataFrame | None, after: pd.DataFrame | None, k: object, target: Path
) -> None:
    """NDCG@k per backtest week for both models, base (dashed) vs this PR (solid)."""
    fig, ax = new_figure(8.0, 4.0)
    for label, frame, style, alpha in (("base", before, "--", 0.5), ("this PR", after, "-", 1.0)):
        if frame is None or frame.empty:
            continue
        weeks = pd.to_datetime(frame["week_start"])
        for model, column in OFFLINE_COLUMNS.items():
            if column in frame:
                ax.plot(
                    weeks,
                    frame[column],
                    style,
                    marker="o",
                    markersize=3,
                    alpha=alpha,
                    color=MODEL_COLOURS[model],
                    label=f"{model} ({label})",
                )
    ax.set_title(f"Offline NDCG@{k} per backtest week")
    ax.set_xlabel("week the prediction is made for (feature week)")
    ax.set_ylabel(f"NDCG@{k}")
    ax.legend(loc="best", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    save_figure(target, fig)


def plot_ab_arms(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None, target: Path
) -> None:
    """Per-arm outcomes of the A/B simulation, base (faded, hatched) vs this PR."""
    fig, axes = new_figure(9.0, 3.4, ncols=len(AB_PANELS))
    sides = [("base", before, 0.45, "//"), ("this PR", after, 1.0, "")]
    width = 0.38
    for ax, (key, title) in zip(axes, AB_PANELS, strict=True):
        for offset, (label, ab, alpha, hatch) in enumerate(sides):
            arms = (ab or {}).get("arms") or {}
            for x, arm in enumerate(("A", "B")):
                value = (arms.get(arm) or {}).get(key)
                if value is None:
                    continue
                ax.bar(
                    x + (offset - 0.5) * width,
                    value,
                    width,
                    color=MODEL_COLOURS[arm],
                    alpha=alpha,
                    hatch=hatch,
                    edgecolor="white",
                    label=label if x == 0 else None,
                )
        ax.set_xticks([0, 1], ["A (baseline)", "B (CatBoost)"])
        ax.set_title(title)
    axes[0].legend(loc="lower left", fontsize=8)
    lift, lo, hi = (
        (after or {}).get("lift"),
        (after or {}).get("ci_low"),
        (after or {}).get("ci_high"),
    )
    if all(isinstance(v, (int, float)) for v in (lift, lo, hi)):
        fig.suptitle(f"A/B, this PR: relative lift {lift:+.2%} (95% CI {lo:+.2%} to {hi:+.2%})")
    fig.tight_layout()
    save_figure(target, fig)
