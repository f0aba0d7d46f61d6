"""Group commit (``serve/group_commit.py``): writes waiting together share one transaction."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from pozytywka.serve.group_commit import GroupCommit


class _Log:
    """A fake store: ``write_many`` records each batch; the first batch waits for ``release``."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def write_many(self, items):
        if not self.batches:
            self.entered.set()
            self.release.wait(30)
        if any(i < 0 for i in items):
            raise ValueError("negative")
        self.batches.append(list(items))
        return [10 * i for i in items]


def test_items_queued_while_a_commit_runs_go_in_the_next_transaction_in_order():
    log = _Log()
    gc = GroupCommit(log.write_many)
    with ThreadPoolExecutor(6) as pool:
        first = pool.submit(gc.submit, 0)
        assert log.entered.wait(30)
        rest = [pool.submit(gc.submit, i) for i in range(1, 6)]
        # the five are queued behind the running commit before it is released
        while gc._queue.qsize() < 5:
            threading.Event().wait(0.001)
        log.release.set()
        assert first.result() == 0
        assert [f.result() for f in rest] == [10, 20, 30, 40, 50]
    gc.close()
    assert log.batches == [[0], [1, 2, 3, 4, 5]]
    assert (gc.batches, gc.items) == (2, 6)


def test_a_bad_item_fails_alone_and_the_others_are_committed():
    log = _Log()
    log.release.set()
    gc = GroupCommit(log.write_many)
    assert gc.submit(1) == 10
    log.release.clear()
    log.entered.clear()
    log.batches.clear()
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(gc.submit, 2)
        assert log.entered.wait(30)
        futs = [pool.submit(gc.submit, i) for i in (3, -1, 4)]
        while gc._queue.qsize() < 3:
            threading.Event().wait(0.001)
        log.release.set()
        assert first.result() == 20
        assert futs[0].result() == 30 and futs[2].result() == 40
        with pytest.raises(ValueError, match="negative"):
            futs[1].result()
    gc.close()
    assert log.batches == [[2], [3], [4]]  # [3, -1, 4] failed as one, then one by one


def test_close_commits_what_is_queued_and_then_refuses():
    log = _Log()
    log.release.set()
    gc = GroupCommit(log.write_many, max_batch=2)
    with ThreadPoolExecutor(5) as pool:
        futs = [pool.submit(gc.submit, i) for i in range(5)]
        assert [f.result() for f in futs] == [0, 10, 20, 30, 40]
    gc.close()
    assert max(len(b) for b in log.batches) <= 2
    assert sorted(i for b in log.batches for i in b) == [0, 1, 2, 3, 4]
    with pytest.raises(RuntimeError, match="closed"):
        gc.submit(9)
    with pytest.raises(ValueError):
        GroupCommit(log.write_many, max_batch=0)
