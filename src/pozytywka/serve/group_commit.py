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

A failure of the store itself (an exception of the ``whole`` types: the disk
is full, the database is locked or unreachable) is not an item's fault: the
batch fails at once, without the one-by-one retry (which would wait for the
store once per item), and so does every item queued behind it, which would
only wait for the same failure; each caller gets its own copy of the
exception. An item whose caller gave up (its future cancelled before the
writer took it) is not written.
"""

from __future__ import annotations

import copy
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
    :class:`RuntimeError` after :meth:`close`. An exception of the ``whole`` types
    fails the batch and everything queued behind it at once (see the module docstring).
    """

    def __init__(
        self,
        write_many: Callable[[Sequence[T]], Sequence[R]],
        max_batch: int = 256,
        name: str = "group-commit",
        whole: tuple[type[BaseException], ...] = (),
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        self._write_many = write_many
        self._whole = whole
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        #: batch sizes written so far (for tests and the benchmark's notes)
        self.batches = 0
        self.items = 0

    def submit(self, item: T, timeout: float | None = None) -> R:
        """Queue ``item`` and wait until the transaction holding it has committed.

        ``timeout`` (seconds): then :class:`TimeoutError`, and the item is withdrawn
        if the writer has not taken it yet (else its transaction may still commit)."""
        fut = self.submit_future(item)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise

    def submit_future(self, item: T) -> Future:
        """Queue ``item``; the future resolves once its transaction has committed
        (``await asyncio.wrap_future(...)`` from the event loop). Cancelling it before
        the writer takes the item withdraws the item."""
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
            # A cancelled future's caller gave up (a deadline): its item is not written.
            taken = [(item, fut) for item, fut in batch if fut.set_running_or_notify_cancel()]
            failed = self._write(taken) if taken else None
            if failed is not None and not stop:
                stop = self._fail_queued(failed)

    def _fail_queued(self, exc: BaseException) -> bool:
        """Fail every item queued now with a copy of ``exc`` (the store failed: they
        would wait for the same failure). True if the stop mark was among them."""
        while True:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                return False
            if nxt is _STOP:
                return True
            _, fut = nxt
            if fut.set_running_or_notify_cancel():
                fut.set_exception(copy.copy(exc))

    def _write(self, batch: list[tuple[T, Future]]) -> BaseException | None:
        """Write ``batch`` and resolve its futures; the exception if the store itself
        failed (a ``whole`` type), else None."""
        try:
            results = self._write_many([item for item, _ in batch])
        except Exception as exc:  # noqa: BLE001 - handed to the callers below
            if isinstance(exc, self._whole):
                for _, fut in batch:
                    fut.set_exception(copy.copy(exc))
                return exc
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return None
            log.warning(
                "a batch of %d log writes failed (%s); retrying one by one", len(batch), exc
            )
            for i, one in enumerate(batch):
                failed = self._write([one])
                if failed is not None:  # the store failed meanwhile: so do the rest
                    for _, fut in batch[i + 1 :]:
                        fut.set_exception(copy.copy(failed))
                    return failed
            return None
        self.batches += 1
        self.items += len(batch)
        for (_, fut), res in zip(batch, results, strict=True):
            if isinstance(res, BaseException):
                fut.set_exception(res)  # this item failed alone; the others committed
            else:
                fut.set_result(res)
        return None
