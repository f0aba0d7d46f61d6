"""The behaviour-model ranking of recs.ceiling follows the simulator it reads."""

from __future__ import annotations

import numpy as np
import pytest

from pozytywka.config import SyntheticParams
from pozytywka.recs.ceiling import VARIANTS, slot_scores
from pozytywka.synthetic import simulate as S
from pozytywka.synthetic.world import build_world


@pytest.fixture(scope="module")
def world():
    # enough sessions a week for the pick frequencies (the default activity is one week in 20)
    params = SyntheticParams(users=40, artists=8, weeks=6, genres=4, sessions_per_user_week=0.55)
    return build_world(params)


def test_slot_probabilities_sum_to_one_and_the_reaction_only_lowers_them(world):
    users = np.arange(10)
    pick = slot_scores(world, users, 3, 3, "genres x appeal x taste")
    np.testing.assert_allclose(pick.sum(axis=1), 1.0)
    np.testing.assert_allclose(slot_scores(world, users, 3, 3, VARIANTS[0]).sum(axis=1), 1.0)
    full = slot_scores(world, users, 3, 3, "behaviour model")
    assert (full <= pick + 1e-12).all() and (full < pick).any()


def test_slot_probabilities_match_the_simulators_picks(world):
    week, counts = 3, np.zeros((world.n_users, world.n_tracks))
    for seed in range(300):
        ev, _ = S._organic_events(world, week, np.random.default_rng(seed))
        play = ev.etype == S.PLAY
        np.add.at(counts, (ev.user[play], ev.track[play]), 1)
    users = np.flatnonzero(counts.sum(axis=1) > 200)
    seen = counts[users] / counts[users].sum(axis=1, keepdims=True)

    def distance(variant):  # mean total variation between model and simulated picks
        return 0.5 * np.abs(seen - slot_scores(world, users, week, week, variant)).sum(1).mean()

    assert len(users) > 20
    assert distance("genres x appeal x taste") < 0.12 < distance("genres x appeal")
