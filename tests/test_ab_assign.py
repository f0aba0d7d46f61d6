"""Arm assignment: stable, independent of other users, near the split."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from pozytywka.experiment.assign import assign_arms, hash_unit


def test_hash_unit_is_pinned():
    # A known answer: SHA-256("salt:user-42") starts a93ca91c7594a01f. Python's hash()
    # would change with PYTHONHASHSEED; this must be the same on every run and platform.
    assert hash_unit("user-42", "salt") == int("a93ca91c7594a01f", 16) / 2**64
    assert abs(hash_unit("user-42", "salt") - 0.661081857154914) < 1e-15


def _reference(user_id: str, salt: str) -> float:
    import hashlib

    h = hashlib.sha256(f"{salt}:{user_id}".encode()).hexdigest()
    return int(h[:16], 16) / 2**64


def test_assignment_near_split():
    users = [f"user{i}" for i in range(20000)]
    for split in (0.5, 0.2):
        arms = assign_arms(users, "pozytywka-ab-v1", split)
        n_b = int((arms["arm"] == "B").sum())
        # two-sided binomial test of the share in B: not rejected at 0.001
        assert stats.binomtest(n_b, len(users), split).pvalue > 0.001


def test_new_salt_reshuffles():
    users = [f"user{i}" for i in range(2000)]
    a = assign_arms(users, "salt-1", 0.5).set_index("user_id")["arm"]
    b = assign_arms(users, "salt-2", 0.5).set_index("user_id")["arm"]
    agree = (a == b).mean()
    assert 0.45 < agree < 0.55  # independent splits agree about half the time


@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=40, unique=True),
    st.text(max_size=10),
    st.floats(0.01, 0.99),
)
def test_assignment_is_stable_and_per_user(users, salt, split):
    whole = assign_arms(users, salt, split).set_index("user_id")["arm"]
    # The same user gets the same arm whatever the other users and their order.
    part = assign_arms(list(reversed(users[: len(users) // 2 + 1])), salt, split)
    for u, arm in zip(part["user_id"], part["arm"], strict=True):
        assert whole[u] == arm
        assert arm == ("B" if _reference(u, salt) < split else "A")
    assert list(whole.index) == sorted(whole.index)
