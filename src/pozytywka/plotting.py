"""Matplotlib set up once for every plot the project renders.

PNGs are for people and PR comments (DVC's HTML plots need a CDN that may be
unreachable); the CSV data beside each PNG is what `dvc plots diff` reads.
The Agg backend and a fixed style make the PNG bytes depend only on the data.

Rules every figure keeps, so it reads like a report: each axis says what it
measures and in what unit; legends sit outside the data (:func:`legend_outside`)
or where the data cannot be; tick labels never overlap (dates rotated, log axes
with the ticks of the values drawn, not matplotlib's minor labels); and a plot
with nothing to show yet says so in a sentence (:func:`message_figure`) instead
of drawing empty axes.
"""

from __future__ import annotations

import textwrap

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


def legend_outside(ax, **kwargs) -> None:
    """The legend to the right of the axes, off the data (call before ``tight_layout``)."""
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, **kwargs)


def message_figure(title: str, message: str, width: float = 7.0, height: float = 2.5):
    """A figure with no axes: the plot's title and, in words, why there is nothing to draw."""
    fig = plt.figure(figsize=(width, height))
    fig.text(0.5, 0.78, title, ha="center", va="center", fontsize=12)
    text = textwrap.fill(message, width=int(width * 12))  # ~12 characters an inch at 10 pt
    fig.text(0.5, 0.42, text, ha="center", va="center", color="#444444")
    return fig
