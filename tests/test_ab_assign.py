"""Arm assignment: stable, independent of other users, near the split."""

from __future__ import annotations

import csv
from pathlib import Path

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


VECTORS = Path(__file__).parent / "data" / "assignment_vectors.csv"


def test_published_vectors_hold():
    """docs/assignment.md's test vectors: the hashed string, the SHA-256 prefix, the
    buckets (to the last bit) and the arm, checked by hand-written hashing and by the code."""
    import hashlib

    from pozytywka.experiment.assign import arm_of, bucket

    rows = list(csv.DictReader(VECTORS.open(encoding="utf-8")))
    assert len(rows) >= 30 and {r["arm"] for r in rows} == {"A", "B", "H"}
    for r in rows:
        v = int(r["bucket_version"])
        salt = r["salt"] if v == 1 else f"{r['salt']}:v{v}"
        assert r["hashed"] == f"{salt}:{r['user_id']}"
        digest = hashlib.sha256(r["hashed"].encode()).hexdigest()
        assert digest[:16] == r["sha256_first8"]
        assert float(r["bucket"]) == int(r["sha256_first8"], 16) / 2**64
        assert bucket(r["user_id"], r["salt"], v) == float(r["bucket"])
        assert bucket(r["user_id"], r["holdout_salt"], v) == float(r["holdout_bucket"])
        holdout, split = float(r["holdout"]), float(r["split"])
        by_hand = (
            "H"
            if float(r["holdout_bucket"]) < holdout
            else ("B" if float(r["bucket"]) < split else "A")
        )
        assert by_hand == r["arm"]
        got = arm_of(
            r["user_id"],
            r["salt"],
            split,
            holdout=holdout,
            holdout_salt=r["holdout_salt"],
            bucket_version=v,
        )
        assert got == r["arm"], r


def test_version_one_is_the_plain_salt_and_a_bump_reshuffles():
    from pozytywka.experiment.assign import bucket

    assert bucket("user-42", "salt") == hash_unit("user-42", "salt")  # the pinned one above
    users = [f"user{i}" for i in range(2000)]
    v1 = assign_arms(users, "s", 0.5, bucket_version=1).set_index("user_id")["arm"]
    v2 = assign_arms(users, "s", 0.5, bucket_version=2).set_index("user_id")["arm"]
    assert 0.45 < (v1 == v2).mean() < 0.55


@given(
    st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=40, unique=True),
    st.floats(0.01, 0.98),
    st.floats(0.0, 0.5),
    st.floats(0.0, 0.3),
)
def test_raising_the_split_only_moves_listeners_from_a_to_b(users, low, step, holdout):
    """Issue 23 item 7: a higher split never sends a B listener back to A, and the
    holdout (its own salt) is the same listeners whatever the split."""
    high = min(low + step, 0.99)
    kw = dict(holdout=holdout, holdout_salt="hs")
    before = assign_arms(users, "s", low, **kw).set_index("user_id")["arm"]
    after = assign_arms(users, "s", high, **kw).set_index("user_id")["arm"]
    for u in before.index:
        assert (before[u], after[u]) in {("A", "A"), ("A", "B"), ("B", "B"), ("H", "H")}


def test_holdout_is_near_its_share_and_independent_of_the_arms():
    users = [f"user{i}" for i in range(20000)]
    arms = assign_arms(users, "pozytywka-ab-v1", 0.5, holdout=0.05, holdout_salt="h")["arm"]
    n_h = int((arms == "H").sum())
    assert stats.binomtest(n_h, len(users), 0.05).pvalue > 0.001
    # without the holdout, the held-out listeners would split 50/50 like everyone
    plain = assign_arms(users, "pozytywka-ab-v1", 0.5).set_index("user_id")["arm"]
    held = plain[arms.to_numpy() == "H"]
    assert stats.binomtest(int((held == "B").sum()), len(held), 0.5).pvalue > 0.001
