"""The Bayes-optimal skip model on synthetic data: how much of the oracle's saving is reachable.

On the synthetic dump the truth is known: the behaviour model
(:func:`pozytywka.synthetic.simulate._react`) skips a play with probability
``sigmoid(logit)``, where the logit adds an intercept, the listener's audio
distance to the track, an off-favourite-genre penalty, the track's appeal *in
the play's week* and the listener's skip bias, each draw independent of
everything else. That probability is the best any model can predict (the
Bayes-optimal model: no feature set can separate skips better), so its cache
policy, priced by the same costs and with its threshold chosen on the same
validation weeks as every model's (:func:`pozytywka.skips.cache.simulate_policies`),
is the ceiling of the share of the oracle's saving a skip model can capture;
the oracle itself also knows the coin flips.

:func:`generator_skip_probability` recomputes the logit from the world rebuilt
from ``params.data.synthetic`` (``pozytywka.synthetic.build_world``), with the
generator's own helpers and constants; a test checks it against ``_react``'s
draws. A play whose listener or track the world does not know (an id the dirt
blanked: the listener is recovered from the session's other plays) has no
probability (NaN) and gets the training rows' skip rate.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

from ..playlists.metrics import bounded_mean_ci, mean_ci
from ..synthetic import simulate as sim
from ..synthetic.world import World
from .cache import simulate_policies, summarise_policies

BAYES = "bayes"


def generator_skip_probability(world: World, plays: pd.DataFrame) -> np.ndarray:
    """P(skip) the behaviour model drew each play's outcome from (NaN when unknown).

    ``plays``: ``user_id``, ``track_id``, ``ts`` (the play's start, naive UTC) and
    ``session_id`` (a null ``user_id`` is taken from the session's other rows).
    The world week is the play's own week (its appeal that week).
    """
    user_ids = plays["user_id"]
    if "session_id" in plays:
        by_session = (
            plays.loc[user_ids.notna(), ["session_id", "user_id"]]
            .drop_duplicates("session_id")
            .set_index("session_id")["user_id"]
        )
        user_ids = user_ids.where(user_ids.notna(), plays["session_id"].map(by_session))
    users = world.user_index(user_ids.fillna("").astype(str).to_numpy())
    tracks = world.track_index(plays["track_id"].fillna("").astype(str).to_numpy())
    ts = pd.to_datetime(plays["ts"]).to_numpy(dtype="datetime64[us]")
    start = np.datetime64(world.start.to_datetime64(), "us")
    weeks = ((ts - start) // np.timedelta64(7, "D")).astype(np.int64)
    ok = (users >= 0) & (tracks >= 0) & (weeks >= 0) & (weeks <= world.n_weeks)
    u, t, w = users[ok], tracks[ok], weeks[ok]
    dz = sim._taste_distance(world, u, t)
    match = sim._genre_match(world, u, t)
    az = world.appeal_z[t, w].astype(np.float64)
    logit = (
        sim.SKIP_INTERCEPT
        + sim.SKIP_DIST * dz
        + sim.SKIP_OFF_GENRE * (~match)
        - sim.SKIP_APPEAL * az
        + world.skip_bias[u]
    )
    out = np.full(len(plays), np.nan)
    out[ok] = sim._sigmoid(logit)
    return out


def bayes_ceiling(predictions: pd.DataFrame, p_bayes: np.ndarray, costs_of, grid) -> dict:
    """The Bayes-optimal model scored like the others: cache share, ROC AUC, log loss.

    ``predictions``: the backtest's rows (``eval_week``, ``role``, ``play_id``,
    ``skipped``, ...); ``p_bayes``: :func:`generator_skip_probability` per row
    (NaN: the week's validation skip rate); ``costs_of``, ``grid``: as for
    :func:`pozytywka.skips.cache.simulate_policies`. Returns the ``bayes`` policy's
    :func:`~pozytywka.skips.cache.summarise_policies` section plus ``roc_auc`` and
    ``log_loss`` (mean over the evaluated weeks, 95% interval: logit-t for the AUC)
    and ``plays_without_probability``.
    """
    frame = predictions.assign(p_bayes=np.asarray(p_bayes, dtype=float))
    missing = frame["p_bayes"].isna()
    if missing.any():
        valid_rate = frame[frame["role"] == "valid"].groupby("eval_week")["skipped"].mean()
        frame.loc[missing, "p_bayes"] = frame.loc[missing, "eval_week"].map(valid_rate)
    weekly, _ = simulate_policies(frame, costs_of, (BAYES,), grid)
    out = summarise_policies(weekly[weekly["policy"] == BAYES])[BAYES]
    ev = frame[frame["role"] == "eval"]
    aucs, losses = [], []
    for _, g in ev.groupby("eval_week", sort=True):
        y, p = g["skipped"].to_numpy(int), np.clip(g["p_bayes"].to_numpy(float), 1e-6, 1 - 1e-6)
        aucs.append(roc_auc_score(y, p))
        losses.append(log_loss(y, p, labels=[0, 1]))
    for name, values, ci in (("roc_auc", aucs, bounded_mean_ci), ("log_loss", losses, mean_ci)):
        mean, low, high = ci(np.asarray(values))
        out[name] = round(mean, 6)
        out[f"{name}_ci_low"] = None if low is None else round(low, 6)
        out[f"{name}_ci_high"] = None if high is None else round(high, 6)
    out["plays_without_probability"] = int(missing[frame["role"] == "eval"].sum())
    return out
