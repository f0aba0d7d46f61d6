"""Matplotlib set up once for every plot the project renders.

PNGs are for people and PR comments (DVC's HTML plots need a CDN that may be
unreachable); the CSV data beside each PNG is what `dvc plots diff` reads.
The Agg backend and a fixed style make the PNG bytes depend only on the data.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

MODEL_COLOURS = {"baseline": "#8c8c8c", "catboost": "#1f77b4", "A": "#8c8c8c", "B": "#1f77b4"}

plt.rcParams.update(
    {
        "figure.dpi": 100,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "font.size": 10,
        "svg.hashsalt": "pozytywka",
    }
)


def new_figure(width: float = 7.0, height: float = 4.0, **subplot_kw):
    """A figure and its axes with the project's style (close it with io.save_figure)."""
    return plt.subplots(figsize=(width, height), **subplot_kw)
