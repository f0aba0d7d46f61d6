"""Pre-experiment covariates per user, for CUPED variance reduction.

CUPED (Deng et al. 2013) adjusts each user's outcome by what was already
predictable *before* the experiment: ``Y' = Y - (X - mean X) theta``, with
``theta`` the pooled least-squares slope of ``Y`` on ``X``. Because ``X`` is
fixed before the arms are assigned, it is independent of the arm, so the
adjusted means are unbiased for the same difference, with a variance smaller by
the share of ``Y``'s variance that ``X`` explains.

Two covariates, both known before the A/B week starts and the same for either arm:

- the user's **pre-period play-through rate**: full plays / plays over the last
  :data:`PRE_WEEKS` complete weeks before the experiment week (all their
  listening, full plays by DESIGN §4 via :func:`pozytywka.plays.full_plays`),
  kept as raw counts (``pre_plays``, ``pre_full_plays``);
- **favourite genre on the shelf** (``fav_on_shelf``, 0/1): one of the user's
  favourite genres is the genre of a playlist of *either* arm. The union of
  both arms' shelves is fixed before assignment, so this is a property of the
  user, not of their arm; a user whose taste is on the shelf plays it through
  more, whatever the arm.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..plays import full_plays
from ..weeks import WEEK, complete_weeks

#: Complete weeks of history before the experiment week the pre-period rate covers.
PRE_WEEKS = 26
PRE_COLUMNS = ["pre_plays", "pre_full_plays", "fav_on_shelf"]


def pre_period_counts(
    sessions: pd.DataFrame, experiment_start: pd.Timestamp, weeks: int = PRE_WEEKS
) -> tuple[pd.DataFrame, list[pd.Timestamp]]:
    """Per user: plays and full plays in the last ``weeks`` complete weeks before the start.

    Returns the counts (``user_id``, ``pre_plays``, ``pre_full_plays``) and the
    weeks used. Only weeks that end by ``experiment_start`` count.
    """
    empty = pd.DataFrame({"user_id": pd.Series(dtype=str), "pre_plays": 0, "pre_full_plays": 0})
    ts = pd.to_datetime(sessions["timestamp"])
    start = pd.Timestamp(experiment_start)
    before = ts < start
    if not before.any():
        return empty, []
    done = [w for w in complete_weeks(ts[before].min(), ts[before].max()) if w + WEEK <= start]
    used = done[-weeks:]
    if not used:
        return empty, []
    window = before & (ts >= used[0])
    cols = ["session_id", "user_id", "track_id", "event_type", "timestamp"]
    judged = full_plays(sessions.loc[window, cols])
    judged["user_id"] = judged["user_id"].astype(str)
    counts = judged.groupby("user_id", sort=True)["is_full"].agg(["size", "sum"]).reset_index()
    counts.columns = ["user_id", "pre_plays", "pre_full_plays"]
    counts[["pre_plays", "pre_full_plays"]] = counts[["pre_plays", "pre_full_plays"]].astype(
        "int64"
    )
    return counts, used


def favourite_on_shelf(users: pd.DataFrame, shelf_genres: Iterable[str]) -> pd.Series:
    """1 when one of the user's ``favourite_genres`` is a shelf genre, else 0 (by ``user_id``)."""
    shelf = {str(g).strip().lower() for g in shelf_genres}

    def hit(genres) -> int:
        if genres is None or (not isinstance(genres, list | tuple | np.ndarray)):
            return 0
        return int(any(str(g).strip().lower() in shelf for g in genres))

    values = [hit(g) for g in users["favourite_genres"]]
    return pd.Series(values, index=users["user_id"].astype(str).to_numpy(), dtype="int64")


def with_covariates(
    outcomes: pd.DataFrame, pre_counts: pd.DataFrame, fav_on_shelf: pd.Series
) -> pd.DataFrame:
    """``outcomes`` with :data:`PRE_COLUMNS` appended (0 for users with no history)."""
    out = outcomes.merge(pre_counts, on="user_id", how="left")
    out["fav_on_shelf"] = out["user_id"].map(fav_on_shelf)
    out[PRE_COLUMNS] = out[PRE_COLUMNS].fillna(0).astype("int64")
    return out


def covariate_matrix(rows: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """The CUPED covariates of ``rows`` (users analysed): pre-period rate and shelf match.

    A user with no pre-period plays gets the mean rate of those who have some
    (the usual imputation: it adds no information, and no bias). Constant
    columns are dropped (nothing to regress on).
    """
    cols, names = [], []
    if {"pre_plays", "pre_full_plays"} <= set(rows.columns):
        plays = rows["pre_plays"].to_numpy(dtype="float64")
        has = plays > 0
        rate = np.where(
            has, rows["pre_full_plays"].to_numpy(dtype="float64") / np.maximum(plays, 1), np.nan
        )
        fill = float(np.nanmean(rate)) if has.any() else 0.0
        cols.append(np.where(has, rate, fill))
        names.append("pre_play_through_rate")
    if "fav_on_shelf" in rows.columns:
        cols.append(rows["fav_on_shelf"].to_numpy(dtype="float64"))
        names.append("fav_on_shelf")
    keep = [i for i, c in enumerate(cols) if len(c) > 1 and np.ptp(c) > 0]
    if not keep:
        return np.zeros((len(rows), 0)), []
    return np.column_stack([cols[i] for i in keep]), [names[i] for i in keep]


def cuped_adjust(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(y - (x - mean x) @ theta, theta)`` with ``theta`` the pooled OLS slopes."""
    y = np.asarray(y, dtype="float64")
    if x.shape[1] == 0 or len(y) < x.shape[1] + 2:
        return y.copy(), np.zeros(x.shape[1])
    xc = x - x.mean(axis=0)
    theta, *_ = np.linalg.lstsq(xc, y - y.mean(), rcond=None)
    return y - xc @ theta, theta
