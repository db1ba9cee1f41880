"""Dynamic batching: requests that arrive within a few milliseconds share one translator call.

    batcher = DynamicBatcher(translate, max_wait_s=0.005, max_queue_lines=1000)
    future = batcher.submit(["ein Hund läuft ."], key=(search_options, False))
    future.result()                       # what translate gave for these lines, in order
    batcher.close()

``translate(lines, key)`` is called with the lines of every request gathered under the
same ``key`` (e.g. the search options), concatenated in arrival order; it must return one
result per line. Each translate callable has a worker thread of its own and is only ever
called from it (models are not thread-safe): pass several, one per model replica, and
calls run side by side, each free worker taking its share of what waits::

    batcher = DynamicBatcher([replica_a.translate, replica_b.translate])

Gathering lasts ``max_wait_s`` from when a request arrives at an idle worker, or from when
the worker finishes a call while requests wait: requests that come while the workers are
busy go into the next call, and the clients that call just answered have ``max_wait_s`` to
send their next request in time to join them, so under load the batches grow by themselves.
A worker takes its share of the waiting requests, split evenly among the workers free at
that moment (all of them when it is the only one free), so that a burst keeps every free
worker busy.

A failing call does not fail its neighbours: when a call of several requests raises, each
of its requests is translated again on its own, and only the ones that fail again get the
error.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Result = TypeVar("Result")
logger = logging.getLogger("seq2seq.serve")


class QueueFull(Exception):
    """Taking the request would put more lines in the queue than ``max_queue_lines``."""


class BatcherClosed(RuntimeError):
    """The batcher is shut down (or shutting down) and takes no more work."""


@dataclass
class _Request(Generic[Result]):
    lines: list[str]
    key: Hashable
    arrived: float
    future: Future = field(default_factory=Future)


@dataclass
class BatcherStats:
    """Counts since start: translator calls made, the lines and requests they carried, and
    the seconds spent in them (failed calls included; summed over the workers, so it can
    pass the wall time when several translate at once)."""

    calls: int = 0
    lines: int = 0
    requests: int = 0
    seconds: float = 0.0


Translate = Callable[[list[str], Hashable], Sequence[Result]]


class DynamicBatcher(Generic[Result]):
    """Gathers requests into few calls of ``translate``, one worker thread per translate
    callable given (see the module)."""

    def __init__(self, translate: Translate | Sequence[Translate], *,
                 max_wait_s: float = 0.005, max_queue_lines: int = 1000):
        translators = [translate] if callable(translate) else list(translate)
        if not translators:
            raise ValueError("give at least one translate callable")
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        if max_queue_lines < 1:
            raise ValueError(f"max_queue_lines must be at least 1, got {max_queue_lines}")
        self.max_wait_s = max_wait_s
        self.max_queue_lines = max_queue_lines
        self.stats = BatcherStats()
        self._queue: list[_Request] = []
        self._queued_lines = 0
        self._closed = False
        self._free_workers = 0  # workers gathering (not in a call)
        self._changed = threading.Condition()
        self._workers = [threading.Thread(target=self._run, args=(each,), daemon=True,
                                          name=f"seq2seq-translate-{number}")
                         for number, each in enumerate(translators)]
        for worker in self._workers:
            worker.start()

    @property
    def workers(self) -> int:
        """Worker threads, one per translate callable."""
        return len(self._workers)

    @property
    def queued_lines(self) -> int:
        """Lines waiting for the worker (not counting the call it is making)."""
        return self._queued_lines

    def submit(self, lines: Sequence[str], key: Hashable) -> Future:
        """Queue ``lines`` to be translated with the others of ``key``; a Future of their
        results, in order (or of the exception translating them raised).

        Raises:
            QueueFull: the queue would hold more than ``max_queue_lines`` lines.
            BatcherClosed: after :meth:`close`.
        """
        request = _Request(list(lines), key, time.monotonic())
        with self._changed:
            if self._closed:
                raise BatcherClosed("the server is shutting down")
            if self._queued_lines + len(request.lines) > self.max_queue_lines:
                raise QueueFull(f"{self._queued_lines} lines are waiting to be translated; "
                                f"{len(request.lines)} more would pass the limit of "
                                f"{self.max_queue_lines}")
            self._queue.append(request)
            self._queued_lines += len(request.lines)
            self._changed.notify()
        return request.future

    def close(self, timeout: float | None = None) -> None:
        """Take no more requests, fail the queued ones with :class:`BatcherClosed`, and wait
        (up to ``timeout`` seconds in all) for the calls in progress to end."""
        with self._changed:
            self._closed = True
            left, self._queue, self._queued_lines = self._queue, [], 0
            self._changed.notify_all()
        for request in left:
            if request.future.set_running_or_notify_cancel():
                request.future.set_exception(BatcherClosed("the server is shutting down"))
        deadline = None if timeout is None else time.monotonic() + timeout
        for worker in self._workers:
            worker.join(None if deadline is None else max(0.0, deadline - time.monotonic()))

    # ---- the worker ------------------------------------------------------------------------

    def _run(self, translate: Translate) -> None:
        free_since = 0.0  # when this worker last finished a call (monotonic time)
        while (taken := self._gather(free_since)) is not None:
            # A request whose client went away (its future cancelled) costs nothing more.
            live = [request for request in taken if request.future.set_running_or_notify_cancel()]
            for group in _groups(live):
                self._call(translate, group)
            free_since = time.monotonic()

    def _gather(self, free_since: float) -> list[_Request] | None:
        """Wait for a request, then ``max_wait_s`` from its arrival or from ``free_since``
        (the end of this worker's last call), whichever is later, for more; take what waits
        then (another worker may have taken it meanwhile: wait again). None once closed."""
        with self._changed:
            self._free_workers += 1
            try:
                while True:
                    while not self._queue and not self._closed:
                        self._changed.wait()
                    if self._closed:
                        return None
                    deadline = max(self._queue[0].arrived, free_since) + self.max_wait_s
                    while (not self._closed and self._queue
                           and (left := deadline - time.monotonic()) > 0):
                        self._changed.wait(left)
                    if self._closed:
                        return None
                    if self._queue:
                        return self._take_share()
            finally:
                self._free_workers -= 1

    def _take_share(self) -> list[_Request]:
        """The first of the waiting requests, an even share among the free workers (the
        caller holds the lock and is one of them); the others are told what is left."""
        share = -(-len(self._queue) // max(1, self._free_workers))  # ceiling
        taken, self._queue = self._queue[:share], self._queue[share:]
        self._queued_lines -= sum(len(request.lines) for request in taken)
        if self._queue:
            self._changed.notify_all()
        return taken

    def _call(self, translate: Translate, group: list[_Request]) -> None:
        """Translate ``group`` (requests of one key) in one call and hand out the results;
        if the call fails, translate each request alone."""
        lines = [line for request in group for line in request.lines]
        start = time.perf_counter()
        try:
            results = list(translate(lines, group[0].key))
            if len(results) != len(lines):
                raise RuntimeError(f"the translator gave {len(results)} results for "
                                   f"{len(lines)} lines")
        except Exception as error:
            self._count(time.perf_counter() - start)
            if self._closed:  # shutting down: no retries, one line in the log
                logger.warning("a call of %d requests failed while shutting down (%s: %s)",
                               len(group), type(error).__name__, error)
                for request in group:
                    request.future.set_exception(error)
                return
            if len(group) == 1:
                logger.exception("translating a request of %d lines failed", len(lines))
                group[0].future.set_exception(error)
                return
            logger.warning("a batch of %d requests failed (%s: %s); translating them one "
                           "at a time", len(group), type(error).__name__, error)
            results = None
        if results is None:
            for request in group:
                self._call(translate, [request])
            return
        self._count(time.perf_counter() - start, calls=1, lines=len(lines), requests=len(group))
        start = 0
        for request in group:
            request.future.set_result(results[start:start + len(request.lines)])
            start += len(request.lines)

    def _count(self, seconds: float, calls: int = 0, lines: int = 0, requests: int = 0) -> None:
        """Add a call to ``stats`` (under the queue's lock: every worker counts)."""
        with self._changed:
            self.stats.seconds += seconds
            self.stats.calls += calls
            self.stats.lines += lines
            self.stats.requests += requests


def _groups(requests: list[_Request]) -> list[list[_Request]]:
    """``requests`` grouped by key, groups in order of their first request."""
    groups: dict[Hashable, list[_Request]] = {}
    for request in requests:
        groups.setdefault(request.key, []).append(request)
    return list(groups.values())
