"""The pipeline's PNGs read like a report: units on the axes, tick labels that do not
overlap, legends off the data, a sentence instead of empty axes, the same bytes twice."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from pozytywka.experiment.report import arms_figure
from pozytywka.io import save_figure
from pozytywka.skips.evaluate import MODELS
from pozytywka.skips.plots import by_week_figure, cost_curve_figure, server_figure
from pozytywka.stages.evaluate import by_week_figure as offline_figure
from pozytywka.stages.hindsight import history_figure
from pozytywka.stages.recs_evaluate import ndcg_figure

SHARES = (0.01, 0.02, 0.05, 0.1, 0.2)
CATALOGUE_GB = 14.25551
WEEKS = [f"2024-07-{d:02d}" for d in (1, 8, 15, 22)]


def server_frame() -> pd.DataFrame:
    rows = []
    for i, share in enumerate(SHARES):
        for j, policy in enumerate(("lru", "lfu", "skip_aware_lru", "belady")):
            hit = 0.09 + 0.1 * i + 0.05 * j
            rows.append(
                {
                    "cache_share": share,
                    "cache_gb": share * CATALOGUE_GB,
                    "policy": policy,
                    "requests": 58234,
                    "hits": int(hit * 58234),
                    "hit_ratio": hit,
                    "byte_hit_ratio": hit + 0.02,
                }
            )
    return pd.DataFrame(rows)


# reports/recs/ndcg_at_20_by_week.csv of the default run: the legend used to cover
# catboost and popularity_genres at the top right
RECS = {
    "als": [0.153194, 0.144698, 0.136209, 0.142398],
    "catboost": [0.276503, 0.275557, 0.304155, 0.311183],
    "ease": [0.165483, 0.155428, 0.143347, 0.159789],
    "itemknn": [0.150896, 0.138887, 0.133183, 0.135758],
    "popularity": [0.068908, 0.06549, 0.088356, 0.118169],
    "popularity_genres": [0.262446, 0.256348, 0.289949, 0.308721],
    "svd": [0.159098, 0.151324, 0.138252, 0.151151],
}


def recs_frame() -> tuple[pd.DataFrame, dict]:
    wide = pd.DataFrame({"week_start": WEEKS, **RECS})
    return wide, {m: {"ndcg_at_20": float(np.mean(v))} for m, v in RECS.items()}


def _draw(fig):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def overlapping_tick_labels(fig) -> list[tuple[str, str]]:
    """Pairs of tick labels of one axis whose boxes overlap once drawn."""
    renderer = _draw(fig)
    pairs = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            labels = [
                t
                for t in axis.get_ticklabels(minor=False) + axis.get_ticklabels(minor=True)
                if t.get_visible() and t.get_text()
            ]
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels]
            for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
                if box_a.overlaps(box_b):
                    pairs.append((a, b))
    return pairs


def points_under_legends(fig) -> int:
    """How many points of the plotted lines (markers and the segments between them,
    sampled) fall inside a legend's box once drawn."""
    renderer = _draw(fig)
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    boxes = [legend.get_window_extent(renderer) for legend in legends]
    count = 0
    for ax in fig.axes:
        for line in ax.lines:
            xy = np.column_stack([line.get_xdata(), line.get_ydata()]).astype(float)
            if len(xy) < 2 or line.get_linestyle() in (":", "--"):  # data, not reference lines
                continue
            shown = ax.transData.transform(xy)
            steps = np.linspace(0.0, 1.0, 21)[:, None]
            shown = np.vstack(
                [a + steps * (b - a) for a, b in zip(shown[:-1], shown[1:], strict=True)]
            )
            for box in boxes:
                count += int(sum(box.contains(x, y) for x, y in shown))
    return count


def test_server_figure_x_is_the_share_of_the_catalogue_with_readable_ticks():
    """Issue: x in GB with log-axis minor labels overlapping into a band."""
    fig = server_figure(server_frame(), weeks=2)
    for ax in fig.axes:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["1%", "2%", "5%", "10%", "20%"]
        assert "share of the catalogue's bytes (14.3 GB)" in ax.get_xlabel()
        assert ax.get_ylabel()
    assert "share of requests" in fig.axes[0].get_ylabel()
    assert "share of the bytes" in fig.axes[1].get_ylabel()
    assert "the last 2 evaluated weeks replayed (58,234 requests)" in fig._suptitle.get_text()
    assert overlapping_tick_labels(fig) == []
    assert points_under_legends(fig) == 0


def test_cost_curve_has_its_unit_and_period():
    grid = np.round(np.linspace(0, 1, 11), 2)
    curve = pd.concat(
        pd.DataFrame({"model": m, "threshold": grid, "cost": 84 - 20 * grid * (1 - grid) - i})
        for i, m in enumerate(MODELS)
    )
    fixed = {"never": 84.24, "always": 62.38, "oracle": 49.11}
    fig = cost_curve_figure(curve, fixed, {m: 0.5 for m in MODELS}, weeks=6)
    ax = fig.axes[0]
    assert "currency units" in ax.get_ylabel() and "6 evaluated weeks" in ax.get_ylabel()
    assert "P(skip)" in ax.get_xlabel()
    assert points_under_legends(fig) == 0 and overlapping_tick_labels(fig) == []


def test_recs_legend_covers_no_line():
    """Issue: the legend of recs/ndcg_at_20_by_week.png covered the top lines."""
    fig = ndcg_figure(*recs_frame())
    assert points_under_legends(fig) == 0
    assert overlapping_tick_labels(fig) == []
    assert "NDCG@20" in fig.axes[0].get_ylabel()


def test_offline_and_skips_weekly_plots_keep_legends_off_the_data():
    by_week = pd.DataFrame(
        {"week_start": WEEKS, "baseline_ndcg_at_k": [0.93, 0.9, 0.87, 0.9]}
        | {"catboost_ndcg_at_k": [0.95, 0.96, 0.93, 0.96]}
    )
    summary = {"baseline": {"ndcg_at_k": 0.9}, "catboost": {"ndcg_at_k": 0.95}}
    skips = pd.DataFrame({"week_start": WEEKS})
    for i, model in enumerate(MODELS):
        skips[f"{model}_roc_auc"] = 0.55 + 0.05 * i
        skips[f"{model}_log_loss"] = 0.62 - 0.03 * i
    for fig in (offline_figure(by_week, summary, 10), by_week_figure(skips, MODELS)):
        assert points_under_legends(fig) == 0 and overlapping_tick_labels(fig) == []
        assert all(ax.get_ylabel() for ax in fig.axes)


def test_nothing_to_show_is_said_in_words_not_drawn_as_empty_axes():
    """Issue: hindsight/history.png was empty axes before any retraining."""
    empty = pd.DataFrame(columns=["iso_week", "ndcg_at_k", "capture_ratio", "promised_ndcg_at_k"])
    fig = history_figure(empty, 10, {"status": "no_previous"})
    assert fig.axes == []
    texts = " ".join(t.get_text() for t in fig.texts)
    assert "No published week has been scored yet" in texts and "retraining" in texts
    waiting = history_figure(
        empty,
        10,
        {"status": "not_in_data", "week_start": "2024-07-29", "last_week_in_data": "2024-07-22"},
    )
    assert "the week of 2024-07-29" in " ".join(t.get_text() for t in waiting.texts)
    wide, _ = recs_frame()
    assert ndcg_figure(wide.iloc[:0], {}).axes == []
    arms = pd.DataFrame(
        {"metric": ["play_through_rate"] * 2, "arm": ["A", "B"], "users": [0, 0]}
        | {"mean": [np.nan, np.nan], "ci_low": [np.nan] * 2, "ci_high": [np.nan] * 2}
    )
    assert arms_figure(arms, 0.95).axes == []


def test_a_scored_history_is_drawn_with_its_unit():
    history = pd.DataFrame(
        {"iso_week": ["2024-W31", "2024-W32"], "ndcg_at_k": [0.93, 0.95]}
        | {"capture_ratio": [0.95, 0.96], "promised_ndcg_at_k": [0.949, 0.95]}
    )
    fig = history_figure(history, 10, {"status": "scored"})
    assert "0 to 1" in fig.axes[0].get_ylabel()
    assert points_under_legends(fig) == 0


@pytest.mark.parametrize(
    "make", [lambda: server_figure(server_frame(), 2), lambda: ndcg_figure(*recs_frame())]
)
def test_the_same_figure_saves_the_same_bytes(tmp_path, make):
    save_figure(tmp_path / "a.png", make())
    save_figure(tmp_path / "b.png", make())
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()


def test_the_playlist_sets_plot_keeps_its_legend_off_the_data():
    from pozytywka.playlists.setmetrics import by_week_columns, summarise_sets
    from pozytywka.stages.evaluate_sets import sets_figure

    rows = []
    for i, week in enumerate(WEEKS):
        row = {"week_start": week, "target_week": week, "listeners": 30}
        for model, reach, cap in (("baseline", 10, 0.15), ("catboost", 12, 0.35)):
            row |= {f"{model}_playlists": 5, f"{model}_reach": reach + i}
            row |= {f"{model}_reach_share": (reach + i) / 20, f"{model}_capture_at_10": cap}
            row |= {f"{model}_capture_at_20": cap - 0.05}
        row |= {"oracle_playlists": 5, "oracle_reach": 20, "oracle_reach_share": 1.0}
        row |= {"oracle_capture_at_10": 0.47, "oracle_capture_at_20": 0.4}
        rows.append(row)
    by_week = pd.DataFrame(rows, columns=by_week_columns())
    fig = sets_figure(by_week, summarise_sets(by_week, 5))
    assert points_under_legends(fig) == 0 and overlapping_tick_labels(fig) == []
    assert all(ax.get_ylabel() for ax in fig.axes)
    empty = sets_figure(by_week.iloc[:0], {})
    assert not empty.axes and "nothing to plot" in " ".join(t.get_text() for t in empty.texts)
