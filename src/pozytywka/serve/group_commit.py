"""Group commit: the log writes that arrive together are committed together.

A served request must be on disk before its answer leaves (SQLite
``synchronous=FULL``, PostgreSQL ``synchronous_commit``), and on SQLite all
writers queue behind one lock. One transaction per request therefore costs one
fsync per request, and under concurrency the waiting writers back off on the
busy timeout: at 32 clients the p99 of ``GET /v1/playlists`` was seconds
(``reports/bench/serve.md`` before this module).

:class:`GroupCommit` is the classic remedy of databases' own logs (group
commit: DeWitt et al., "Implementation techniques for main memory database
systems", SIGMOD 1984; PostgreSQL's ``commit_delay`` does the same): one
writer thread takes every item waiting in its queue (up to ``max_batch``),
writes them in **one** transaction and only then resolves each caller's future.
Nothing is acknowledged before its commit, and there is no added delay: a
lone request is written at once, and the batch grows only with the load. If a
batch fails, its items are retried one by one so one bad item fails alone.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

_STOP = object()


class GroupCommit(Generic[T, R]):
    """Batch ``write_many(items) -> results`` (one transaction, results in item order)
    behind one writer thread. :meth:`submit` blocks the caller until its item is committed.

    A result that is an exception is raised to that item's caller alone (``write_many``
    isolated the failure, e.g. a rejected batch). :meth:`submit` raises it, or whatever
    ``write_many`` raised for the item (after the one-by-one retry), and
    :class:`RuntimeError` after :meth:`close`.
    """

    def __init__(
        self,
        write_many: Callable[[Sequence[T]], Sequence[R]],
        max_batch: int = 256,
        name: str = "group-commit",
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._write_many = write_many
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        #: batch sizes written so far (for tests and the benchmark's notes)
        self.batches = 0
        self.items = 0

    def submit(self, item: T) -> R:
        """Queue ``item`` and wait until the transaction holding it has committed."""
        return self.submit_future(item).result()

    def submit_future(self, item: T) -> Future:
        """Queue ``item``; the future resolves once its transaction has committed
        (``await asyncio.wrap_future(...)`` from the event loop)."""
        fut: Future = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the store's writer is closed")
            self._queue.put((item, fut))
        return fut

    def close(self) -> None:
        """Write what is queued, then stop the writer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            while len(batch) < self._max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                batch.append(nxt)
            self._write(batch)

    def _write(self, batch: list[tuple[T, Future]]) -> None:
        try:
            results = self._write_many([item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - handed to the callers below
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            log.warning(
                "a batch of %d log writes failed (%s); retrying one by one", len(batch), exc
            )
            for one in batch:
                self._write([one])
            return
        self.batches += 1
        self.items += len(batch)
        for (_, fut), res in zip(batch, results, strict=True):
            if isinstance(res, BaseException):
                fut.set_exception(res)  # this item failed alone; the others committed
            else:
                fut.set_result(res)
