"""The traffic driver reports a shelf track by the id the listener was served."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pozytywka.serve.traffic import as_served_ids


@dataclass
class _World:
    """Two songs; song 1 also has the alias id "t1-alias" (the heavy dirt profile's second id)."""

    track_ids = np.array(["t0", "t1"])

    def track_index(self, ids):
        pos = {"t0": 0, "t1": 1, "t1-alias": 1}
        return np.array([pos.get(t, -1) for t in ids], dtype=np.int64)


def test_a_song_served_under_its_alias_is_reported_under_the_alias():
    served = {"u1": [["t1-alias", "t0"]], "u2": [["t1", "t0"]], "u3": [["nope"]]}
    events = pd.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2", "u3"],
            "track_id": ["t1", "t0", "t1", "t0", "t1"],
        },
        index=[10, 11, 12, 13, 14],
    )
    out = as_served_ids(events, served, _World())
    assert out.tolist() == ["t1-alias", "t0", "t1", "t0", "t1"]
    assert out.index.tolist() == [10, 11, 12, 13, 14]


def test_without_aliases_the_ids_are_unchanged():
    events = pd.DataFrame({"user_id": ["u2"], "track_id": ["t0"]})
    out = as_served_ids(events, {"u2": [["t0", "t1"]]}, _World())
    assert out.tolist() == ["t0"]
