"""Last week, in hindsight: the playlists published at the base revision, scored on what happened.

A weekly retraining adds the week the previous run published playlists for. Before
the new playlists go out, each previously published playlist is scored against
that week's actual popularity (DESIGN §4: distinct users with a full play), with
the backtest's own definitions (:mod:`pozytywka.playlists.metrics`), so the row is
directly comparable with what the backtest promised:

- **captured popularity**: the summed actual popularity of the playlist's tracks;
- **oracle popularity**: that of the genre's actual top-n tracks, n = the playlist's
  length (the best any playlist of that length could have done, ignoring the
  per-artist cap); **capture ratio** = captured / oracle;
- **NDCG@k** against the genre's actual top-k: the playlist's order is the ranking
  (its first track ranks first; tracks of the genre not in it rank below all of
  its tracks), gains = actual popularity, ``sklearn.metrics.ndcg_score``;
  **precision@k**: share of the playlist's first k that are in the genre's actual
  top-k (ties included).

The published set as a whole (issue 21, :mod:`pozytywka.playlists.setmetrics`):
**set reach** (distinct listeners with a full play of a published track that
week, from ``weekly_listeners``) and **per-playlist capture@10 / @20** (a
playlist's first k tracks' popularity over the week's global top k). The
exclusive oracle's reach needs the backtest's candidates and the playlist rules,
which this stage does not read: its share is in the backtest
(``metrics/playlist_sets.json``), not here.

The genre's candidates are its tracks in ``track_genres`` (plus the playlist's own
tracks); a track with no full play that week has popularity 0.

Inputs: ``previous`` = the committed copy of the base revision's results written by
``pozytywka retrain`` (``{"base", "playlists", "offline", "ab"}``; ``playlists`` is
the base's ``reports/playlists/playlists.json`` or null), ``weekly_popularity``
(``week_start``, ``track_id``, ``popularity``) and ``track_genres``
(``track_id``, ``genre``).
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from ..playlists.metrics import group_metrics
from ..playlists.setmetrics import CAPTURE_KS, capture_at_k, set_reach

#: One row per scored week in the committed history (reports/hindsight/history.csv).
HISTORY_COLUMNS = [
    "week_start",
    "iso_week",
    "base",
    "model",
    "playlists",
    "ndcg_at_k",
    "promised_ndcg_at_k",
    "capture_ratio",
    "captured_popularity",
    "oracle_popularity",
    "set_reach",
    "capture_at_10",
    "ab_lift",
    "ab_ci_low",
    "ab_ci_high",
]
PLAYLIST_COLUMNS = [
    "genre",
    "tracks",
    "captured_popularity",
    "oracle_popularity",
    "capture_ratio",
    "ndcg_at_k",
    "precision_at_k",
]


def iso_week(week_start: pd.Timestamp | str) -> str:
    """``2024-07-29`` -> ``2024-W31`` (the ISO calendar's year and week)."""
    year, week, _ = pd.Timestamp(week_start).isocalendar()
    return f"{year}-W{week:02d}"


def score_playlist(
    track_ids: list[str], candidates: pd.Series, k: int
) -> dict[str, float | int] | None:
    """One playlist against its genre's week: see the module docstring.

    ``candidates``: actual popularity by track id of the genre's tracks that week.
    None when the genre had no listened track (nothing to score against).
    """
    actual = candidates.reindex(candidates.index.union(pd.Index(track_ids)), fill_value=0)
    actual = actual.astype(float)
    n = len(track_ids)
    rank = pd.Series(0.0, index=actual.index)
    rank[track_ids] = np.arange(n, 0, -1, dtype=float)  # first track: highest score
    m = group_metrics(actual.to_numpy(), rank.to_numpy(), k)
    if m is None:
        return None
    captured = float(actual[track_ids].sum())
    oracle = float(np.sort(actual.to_numpy())[::-1][:n].sum())
    return {
        "tracks": n,
        "captured_popularity": int(round(captured)),
        "oracle_popularity": int(round(oracle)),
        "capture_ratio": captured / oracle if oracle > 0 else float("nan"),
        "ndcg_at_k": m["ndcg_at_k"],
        "precision_at_k": m["precision_at_k"],
    }


def score_previous(
    previous: dict[str, Any],
    weekly_popularity: pd.DataFrame,
    track_genres: pd.DataFrame,
    k: int,
    listeners: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Score the previously published playlists on their week.

    ``listeners``: ``week_start``, ``user_id``, ``track_id`` full plays
    (``data/processed/weekly_listeners.parquet``); None leaves ``set_reach`` out
    (null).

    Returns the per-playlist table (:data:`PLAYLIST_COLUMNS`) and the summary
    written to ``metrics/hindsight.json``: ``status`` is ``scored``,
    ``no_previous`` (no playlists at the base: a first run) or ``not_in_data``
    (their week is not a complete week of the data yet), with the week, the
    published model, means over playlists, what the base's backtest promised and
    (synthetic service) the A/B outcome the base simulated for that week.
    """
    empty = pd.DataFrame(columns=PLAYLIST_COLUMNS)
    published = previous.get("playlists")
    if not published or not published.get("playlists"):
        return empty, {"status": "no_previous", "base": previous.get("base")}
    week = pd.Timestamp(published["week_start"])
    summary: dict[str, Any] = {
        "base": previous.get("base"),
        "week_start": str(week.date()),
        "iso_week": iso_week(week),
        "model": published.get("model"),
        "k": k,
    }
    weeks = set(pd.to_datetime(weekly_popularity["week_start"]).unique())
    if week not in weeks:
        last = max(weeks).date() if weeks else None
        return empty, {**summary, "status": "not_in_data", "last_week_in_data": str(last)}
    pop = weekly_popularity.loc[
        pd.to_datetime(weekly_popularity["week_start"]) == week, ["track_id", "popularity"]
    ]
    pop = pop.set_index("track_id")["popularity"]
    rows = []
    for playlist in published["playlists"]:
        genre = playlist["genre"]
        ids = [t["track_id"] for t in playlist["tracks"]]
        members = track_genres.loc[track_genres["genre"] == genre, "track_id"].unique()
        candidates = pop.reindex(pd.Index(members), fill_value=0)
        scored = score_playlist(ids, candidates, k)
        if scored is not None:
            rows.append({"genre": genre, **scored})
    table = pd.DataFrame(rows, columns=PLAYLIST_COLUMNS)
    lists = [[t["track_id"] for t in p["tracks"]] for p in published["playlists"]]
    week_pop = pop.groupby(level=0).sum()  # by track id
    capture = {f"capture_at_{c}": capture_at_k(lists, week_pop, c) for c in CAPTURE_KS}
    reach = None
    active = None
    if listeners is not None:
        played = listeners.loc[pd.to_datetime(listeners["week_start"]) == week]
        reach = set_reach({t for p in lists for t in p}, played)
        active = int(played["user_id"].nunique())
    captured = int(table["captured_popularity"].sum()) if len(table) else 0
    oracle = int(table["oracle_popularity"].sum()) if len(table) else 0
    summary.update(
        status="scored",
        playlists=len(table),
        ndcg_at_k=float(table["ndcg_at_k"].mean()) if len(table) else None,
        precision_at_k=float(table["precision_at_k"].mean()) if len(table) else None,
        captured_popularity=captured,
        oracle_popularity=oracle,
        capture_ratio=captured / oracle if oracle else None,
        set_reach=reach,
        listeners=active,
        **capture,
        promised_ndcg_at_k=_promised(previous, summary["model"]),
        ab=ab_outcome(previous.get("ab")),
    )
    return table, summary


def _promised(previous: dict[str, Any], model: str | None) -> float | None:
    """The base's backtest NDCG@k of the published model (what the reviewer was promised)."""
    offline = previous.get("offline") or {}
    value = (offline.get(model or "") or {}).get("ndcg_at_k")
    return None if value is None else float(value)


def ab_outcome(ab: dict[str, Any] | None) -> dict[str, Any] | None:
    """The headline of the base's A/B result for the published week (None: none there)."""
    if not ab:
        return None
    keys = ("mode", "metric", "lift", "ci_low", "ci_high", "p_value", "decision")
    return {key: ab.get(key) for key in keys if key in ab}


def update_history(history: pd.DataFrame, summary: dict[str, Any]) -> pd.DataFrame:
    """The history with this week's row added or replaced (one row per week: idempotent)."""
    history = history.reindex(columns=HISTORY_COLUMNS)
    if summary.get("status") != "scored":
        return history.sort_values("week_start", kind="stable").reset_index(drop=True)
    ab = summary.get("ab") or {}
    row = {
        "week_start": summary["week_start"],
        "iso_week": summary["iso_week"],
        "base": (summary.get("base") or "")[:12],
        "model": summary["model"],
        "playlists": summary["playlists"],
        "ndcg_at_k": summary["ndcg_at_k"],
        "promised_ndcg_at_k": summary["promised_ndcg_at_k"],
        "capture_ratio": summary["capture_ratio"],
        "captured_popularity": summary["captured_popularity"],
        "oracle_popularity": summary["oracle_popularity"],
        "set_reach": summary.get("set_reach"),
        "capture_at_10": summary.get("capture_at_10"),
        "ab_lift": ab.get("lift"),
        "ab_ci_low": ab.get("ci_low"),
        "ab_ci_high": ab.get("ci_high"),
    }
    kept = history[history["week_start"].astype(str) != row["week_start"]]
    out = pd.concat([kept, pd.DataFrame([row], columns=HISTORY_COLUMNS)], ignore_index=True)
    return out.sort_values("week_start", kind="stable").reset_index(drop=True)


def read_history(raw: bytes | None) -> pd.DataFrame:
    """The history CSV's rows (an empty table when there is none yet)."""
    if not raw:
        return pd.DataFrame(columns=HISTORY_COLUMNS)
    return pd.read_csv(io.BytesIO(raw), dtype={"base": str, "week_start": str})
