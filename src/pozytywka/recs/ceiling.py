"""How predictable next week's listening is at all: tracks ranked by the synthetic behaviour model.

Only meaningful on the synthetic dump: the world is rebuilt from ``data.synthetic``
(as the ``ab_test`` stage does) and, for each evaluated week of ``recs_evaluate``,
every evaluated listener's tracks are ranked by what the behaviour model of
:mod:`pozytywka.synthetic.simulate` knows, then scored like the recommenders
(NDCG@20 and recall@20 against the tracks the listener fully played that week).

One organic slot of listener u picks a genre g with probability ``p_g(u)``
(``P_FAV_GENRE`` spread over u's favourite genres by this week's genre weight, the
rest over all genres), then one of the genre's tracks by this week's appeal ``a_t``
and by taste, ``f_ut = exp(-TASTE_BETA x d_ut)`` (``d_ut``: standardised audio
distance). The ranking score of track t is::

    P(t | u) = sum over g in genres(t) of  p_g(u) x (a_t / A_g) x f_ut / Z_g(u)

with ``A_g`` the genre's total appeal and ``Z_g(u)`` the appeal-weighted mean of
``f`` over the genre (the many-candidates limit of the model's pick of the best of
``CANDIDATES`` draws: an approximation), times the chance the slot is a full play
(``1 - sigmoid(skip logit)`` of the reaction model). Variants drop parts of it:

- ``genres x appeal``: no taste, no reaction (``f = 1``): what popularity in
  favourite genres could reach if it knew this week's appeal exactly;
- ``genres x appeal x taste``: plus the listener's audio taste;
- ``behaviour model``: plus the reaction (the whole model; the Bayes ranking up to
  the approximation above);

each with this week's appeal (known only to the simulator) and with last week's
(what a model fitted before the week could know at best, new releases unseen).

``python -m pozytywka.recs.ceiling`` writes ``reports/recs/ceiling.{json,md}``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import paths
from ..config import load_params
from ..playlists.metrics import bounded_mean_ci
from ..synthetic import simulate as S
from ..synthetic.world import World, build_world, genre_weights
from . import metrics as M
from .evaluate import split_weeks
from .interactions import Catalogue, active_users, relevant
from .models.base import top_k

VARIANTS = ("genres x appeal", "genres x appeal x taste", "behaviour model")
BATCH = 512


def slot_scores(
    world: World, users: np.ndarray, week: int, appeal_week: int, variant: str
) -> np.ndarray:
    """len(users) x n_tracks (world positions): the module doc's ``P(t | u)`` for ``variant``.

    ``users``: world user positions; ``week``: world week of the genre weights and the
    reaction; ``appeal_week``: world week whose track appeal is used. Without the
    reaction (the first two variants) each row sums to 1 over the released tracks.
    """
    gw = genre_weights(world, week)
    la = world.log_appeal[:, appeal_week].astype(np.float64)
    appeal = np.where(np.isfinite(la), np.exp(la), 0.0)
    tg = world.track_genres
    rows, cols = np.nonzero(tg >= 0)
    share = np.zeros((world.n_tracks, world.n_genres))  # a_t / A_g for t in g
    share[rows, tg[rows, cols]] = appeal[rows]
    totals = share.sum(axis=0)
    share /= np.where(totals > 0, totals, 1.0)
    gw = gw * (totals > 0)
    fav = world.user_fav[users]
    p_fav = np.zeros((len(users), world.n_genres))
    r, c = np.nonzero(fav >= 0)
    p_fav[r, fav[r, c]] = gw[fav[r, c]]
    fav_total = p_fav.sum(axis=1, keepdims=True)
    anywhere = gw / gw.sum()
    p = np.where(
        fav_total > 0,
        S.P_FAV_GENRE * p_fav / np.where(fav_total > 0, fav_total, 1.0)
        + (1 - S.P_FAV_GENRE) * anywhere,
        anywhere,
    )
    dist = S._taste_distance(world, users[:, None], np.arange(world.n_tracks)[None, :])
    f = np.exp(-S.TASTE_BETA * dist) if variant != VARIANTS[0] else np.ones_like(dist)
    z = f @ share  # users x genres: E[f] of a track drawn from the genre by appeal
    out = ((p / np.where(z > 0, z, 1.0)) @ share.T) * f
    if variant == "behaviour model":
        match = np.zeros(out.shape, dtype=bool)
        for j in range(tg.shape[1]):
            for i in range(fav.shape[1]):
                match |= (tg[None, :, j] == fav[:, i, None]) & (tg[None, :, j] >= 0)
        logit = (
            S.SKIP_INTERCEPT
            + S.SKIP_DIST * dist
            + S.SKIP_OFF_GENRE * ~match
            - S.SKIP_APPEAL * world.appeal_z[None, :, week]
            + world.skip_bias[users, None]
        )
        out = out / (1.0 + np.exp(logit))  # x P(full play) = 1 - sigmoid(logit)
    return out


def ceiling(
    interactions: pd.DataFrame, cat: Catalogue, world: World, weeks: list[pd.Timestamp]
) -> pd.DataFrame:
    """One row per (week, appeal, variant): NDCG@20 and recall@20 of the behaviour-model
    ranking over the week's evaluated listeners the world knows (``listeners``)."""
    wu = world.user_index(cat.users)
    wt = world.track_index(cat.items)
    rows = []
    for week in weeks:
        wk = world.week_index(week)
        truth = relevant(interactions, week, cat)
        users = active_users(truth)
        users = users[wu[users] >= 0]
        for appeal, lag in (("this week", 0), ("last week", 1)):
            for variant in VARIANTS:
                recs = []
                for start in range(0, len(users), BATCH):
                    batch = users[start : start + BATCH]
                    s = slot_scores(world, wu[batch], wk, wk - lag, variant)
                    scores = np.full((len(batch), len(cat.items)), -1.0)
                    scores[:, wt >= 0] = s[:, wt[wt >= 0]]
                    recs.append(top_k(scores, 20))
                m = M.per_user(np.vstack(recs), truth[users], ks=(20,))
                rows.append(
                    {
                        "week_start": week,
                        "appeal": appeal,
                        "variant": variant,
                        "listeners": len(users),
                        "ndcg_at_20": float(m["ndcg_at_20"].mean()),
                        "recall_at_20": float(m["recall_at_20"].mean()),
                    }
                )
    return pd.DataFrame(rows)


def summary(by_week: pd.DataFrame) -> dict:
    """Per (appeal, variant): mean NDCG@20 / recall@20 over weeks with a 95% interval."""
    out = {}
    for (appeal, variant), g in by_week.groupby(["appeal", "variant"], sort=False):
        entry = {}
        for key in ("ndcg_at_20", "recall_at_20"):
            mean, lo, hi = bounded_mean_ci(g[key].to_numpy())
            entry[key] = round(mean, 6)
            entry[f"{key}_ci_low"] = None if lo is None else round(lo, 6)
            entry[f"{key}_ci_high"] = None if hi is None else round(hi, 6)
        out[f"{variant}, {appeal}'s appeal"] = entry
    return out


def markdown(result: dict, recs_metrics: dict | None) -> str:
    from ..markdown import table

    lines = [
        "# How predictable next week's listening is: ranked by the behaviour model itself",
        "",
        "`python -m pozytywka.recs.ceiling`: the synthetic world rebuilt from "
        "`data.synthetic`, the evaluated weeks of `recs_evaluate`, every evaluated listener; "
        "mean [95% CI across weeks] (see `src/pozytywka/recs/ceiling.py`).",
        "",
    ]
    rows = []
    for name, e in result.items():
        rows.append(
            [name]
            + [
                f"{e[k]:.4f} [{e[k + '_ci_low']:.4f}, {e[k + '_ci_high']:.4f}]"
                if e.get(k + "_ci_low") is not None
                else f"{e[k]:.4f}"
                for k in ("ndcg_at_20", "recall_at_20")
            ]
        )
    for name in ("popularity_genres", "catboost"):
        e = (recs_metrics or {}).get(name)
        if isinstance(e, dict):
            rows.append([f"`{name}` (metrics/recs.json)", f"{e['ndcg_at_20']:.4f}", ""])
            rows[-1][2] = f"{e['recall_at_20']:.4f}"
    lines.append(table(["ranking", "NDCG@20", "recall@20"], rows, "lrr"))
    return "\n".join(lines) + "\n"


def main() -> None:
    from ..io import read_json, write_json, write_text
    from ..stages._recs_inputs import read_inputs

    params = load_params()
    interactions, cat, _ = read_inputs()
    weeks = sorted(pd.DatetimeIndex(interactions["week_start"].unique()))
    _, evaluated = split_weeks(weeks, params.recs)
    by_week = ceiling(interactions, cat, build_world(params.data.synthetic), evaluated)
    result = summary(by_week)
    metrics = read_json(paths.RECS_METRICS) if paths.RECS_METRICS.exists() else None
    write_json(paths.RECS_REPORTS / "ceiling.json", result)
    write_text(paths.RECS_REPORTS / "ceiling.md", markdown(result, metrics))
    print(markdown(result, metrics))


if __name__ == "__main__":
    main()
