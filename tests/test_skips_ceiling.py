"""The Bayes-optimal ceiling: the generator's own skip probability, scored like a model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import skips_data
from pozytywka.config import SyntheticParams
from pozytywka.skips.cache import play_costs
from pozytywka.skips.ceiling import bayes_ceiling, generator_skip_probability
from pozytywka.synthetic import build_world
from pozytywka.synthetic.simulate import _react
from test_skips_cache import PARAMS

GRID = np.array([0.0, 0.25, 0.5, 0.75, 1.0])


def test_probability_is_what_the_reaction_model_draws_from():
    world = build_world(
        SyntheticParams(seed=3, users=60, artists=12, tracks_per_artist=4.0, genres=5, weeks=6)
    )
    week, n = 3, 400
    pick = np.random.default_rng(0)
    users = pick.integers(0, world.users_by(week), n)
    tracks = pick.integers(0, world.tracks_by(week), n)
    skip, _ = _react(world, week, np.random.default_rng(11), users, tracks)
    plays = pd.DataFrame(
        {
            "session_id": [f"s{u}" for u in users],  # one session per listener
            "user_id": world.user_ids[users].astype(object),
            "track_id": world.track_ids[tracks].astype(object),
            "ts": world.week_start(week) + pd.Timedelta(hours=30),
        }
    )
    assert (plays["session_id"] == plays.loc[2, "session_id"]).sum() > 1
    plays.loc[2, "user_id"] = None  # blanked by dirt: recovered from the session's other rows
    plays.loc[0, ["user_id", "session_id"]] = [None, "alone"]  # ...unless there are none
    plays.loc[1, "track_id"] = "not-a-track"
    p = generator_skip_probability(world, plays)
    assert np.isnan(p[0]) and np.isnan(p[1]) and not np.isnan(p[2:]).any()
    # _react's first draw decides the skip: u < p for the same uniforms, play for play
    u = np.random.default_rng(11).random(n)
    assert ((u[2:] < p[2:]) == skip[2:]).all()
    assert p[2:].min() > 0.0 and p[2:].max() < 1.0


def _five(p):
    plays = pd.DataFrame(
        {
            "play_id": [1, 2, 3, 4, 5],
            "track_id": ["t2", "t2", "t1", "t1", "t3"],
            "skipped": [1, 0, 1, 0, 0],
            "skip_after_s": [25.0, np.nan, 0.0, np.nan, np.nan],
        }
    )
    frames = [plays.assign(role=role, eval_week=skips_data.W1) for role in ("eval", "valid")]
    return pd.concat(frames, ignore_index=True), np.concatenate([p, p])


def _costs(rows):
    return play_costs(rows, skips_data.tracks(), skips_data.storage(), PARAMS)


def test_bayes_ceiling_of_five_plays_by_hand():
    # the five plays of test_skips_cache (fetch 100/100/200/200/50, stream 25/103/100/211/61.5;
    # always 650, oracle 475). Streaming p >= t costs 500.5 for t <= 0.2, 486 for t in
    # (0.2, 0.4] (fetch plays 2 and 5), 586 up to 0.6, 575 up to 0.9, 650 above: the
    # validation rows (the same plays) choose t = 0.25, cost 486 -> (650 - 486) / 175.
    predictions, p = _five(np.array([0.9, 0.2, 0.4, 0.6, 0.1]))
    out = bayes_ceiling(predictions, p, _costs, GRID)
    assert out["threshold"] == 0.25 and out["cost"] == pytest.approx(486)
    assert out["share_of_oracle_saving"] == pytest.approx(164 / 175, abs=1e-6)
    assert out["slow_deliveries"] == 1 and out["wasted_bytes"] == 0  # play 4 streamed
    # skipped plays at 0.9 and 0.4 against full ones at 0.2, 0.6, 0.1: 5 of 6 pairs in order
    assert out["roc_auc"] == pytest.approx(5 / 6, abs=1e-6)
    assert out["roc_auc_ci_low"] is None  # one week: no interval
    expected = -np.mean(np.log([0.9, 0.8, 0.4, 0.4, 0.9]))
    assert out["log_loss"] == pytest.approx(expected, abs=1e-6)
    assert out["plays_without_probability"] == 0


def test_a_play_without_probability_gets_the_validation_skip_rate():
    # play 5 unknown to the world: p = 2 / 5 skipped on the validation rows = 0.4; now
    # (0.2, 0.4] fetches play 2 only: 100 + 25 + 100 + 211 + 61.5 = 497.5
    predictions, p = _five(np.array([0.9, 0.2, 0.4, 0.6, np.nan]))
    out = bayes_ceiling(predictions, p, _costs, GRID)
    assert out["plays_without_probability"] == 1
    assert out["cost"] == pytest.approx(497.5)
