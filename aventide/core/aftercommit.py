"""A per-process background sender for best-effort after-commit effects.

The database rows are the truth; some effects of a commit only *speed up* what the rows
already guarantee: the Celery publish of an outbox job (the beat task ``dispatch_due``
re-dispatches due jobs) and the live channel-layer fan-out of a realtime event (catchup and
resume read the log). Sending them from the request thread costs the request a broker round
trip and, under load, the CPU of building each message while other requests wait for the GIL
(docs/decisions/0018-background-after-commit-sender.md).

``BackgroundSender`` is one daemon thread per process with a bounded in-memory FIFO. Request
threads only ``submit(kind, item)`` (a deque append under a lock); the thread takes everything
queued, cuts it into runs of one kind (order kept), and hands each run to that kind's handler
as one batch. Guarantees, all tested (tests/core/test_aftercommit.py):

- order: items are handled in submission order (one thread, FIFO, runs never reordered), so
  the events of one stream go out in the order they committed in this process;
- a failing handler loses its batch only (logged, counted in ``METRIC_AFTER_COMMIT_SEND_FAILED``);
  the thread keeps going;
- bounded: when ``capacity`` items wait, a new one is dropped and counted
  (``METRIC_AFTER_COMMIT_DROPPED``): the rows stay the guarantee, memory stays bounded;
- ``flush(timeout)`` waits until everything submitted before it was handled;
  ``close(timeout)`` flushes and stops the thread (graceful shutdown: ``aventide.server``).

Whether a process uses it is the setting ``AFTER_COMMIT_SENDER`` (``inline`` or
``background``); ``python -m aventide.server`` defaults its workers to ``background``; Celery
workers, commands and tests keep ``inline``. ``process_sender()`` is the process's instance
(re-created after a fork).
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from aventide.core.logging import get_logger

logger = get_logger("aventide.aftercommit")

METRIC_DROPPED = "METRIC_AFTER_COMMIT_DROPPED"
METRIC_SEND_FAILED = "METRIC_AFTER_COMMIT_SEND_FAILED"

Handler = Callable[[list[Any]], None]

DEFAULT_CAPACITY = 10_000
DEFAULT_MAX_BATCH = 500


def _emit(name: str, **fields: Any) -> None:
    from aventide.core.metrics import emit

    emit(name, **fields)


class BackgroundSender:
    """One daemon thread handing queued items, in batches per kind, to their handlers."""

    def __init__(
        self,
        handlers: Mapping[str, Handler],
        *,
        capacity: int = DEFAULT_CAPACITY,
        max_batch: int = DEFAULT_MAX_BATCH,
        name: str = "after-commit-sender",
    ) -> None:
        if capacity < 1 or max_batch < 1:
            raise ValueError("capacity and max_batch must be >= 1")
        self._handlers = handlers  # not copied: the process registry may grow
        self.capacity = capacity
        self.max_batch = max_batch
        self._name = name
        self._items: deque[tuple[str, Any]] = deque()
        self._cond = threading.Condition()
        self._submitted = 0  # items accepted so far (a ticket number for flush)
        self._done = 0  # items handled (sent, or failed) so far
        self.dropped = 0
        self.failed = 0
        self._closing = False
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- request side --------------------------------------------------------------------

    def submit(self, kind: str, item: Any) -> bool:
        """Queue ``item`` for ``kind``'s handler; False (dropped, counted) when the queue is
        full or the sender is closed. Never blocks on I/O, never raises for a known kind."""
        if kind not in self._handlers:
            raise KeyError(f"no handler for {kind!r}")
        with self._cond:
            if self._closing or len(self._items) >= self.capacity:
                self.dropped += 1
                full = not self._closing
            else:
                self._items.append((kind, item))
                self._submitted += 1
                if self._thread is None:
                    self._start()
                self._cond.notify()
                return True
        _emit(METRIC_DROPPED, labels={"kind": kind, "reason": "full" if full else "closed"})
        return False

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every item submitted before this call was handled; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._submitted
            while self._done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def close(self, timeout: float = 5.0) -> bool:
        """Flush (up to ``timeout``), then stop the thread; later submits are dropped."""
        flushed = self.flush(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(max(0.0, timeout))
        return flushed

    @property
    def pending(self) -> int:
        with self._cond:
            return self._submitted - self._done

    # --- the sender thread ---------------------------------------------------------------

    def _start(self) -> None:
        thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread = thread
        thread.start()

    def event_loop(self) -> asyncio.AbstractEventLoop:
        """The sender thread's own event loop (for async handlers); call from a handler."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop

    def _take(self) -> list[tuple[str, Any]] | None:
        with self._cond:
            while not self._items:
                if self._closing:
                    return None
                self._cond.wait()
            batch: list[tuple[str, Any]] = []
            while self._items and len(batch) < self.max_batch:
                batch.append(self._items.popleft())
            return batch

    def _run(self) -> None:
        try:
            while True:
                batch = self._take()
                if batch is None:
                    return
                for kind, items in _runs(batch):
                    try:
                        self._handlers[kind](items)
                    except Exception as exc:  # noqa: BLE001 -- best effort by contract
                        with self._cond:
                            self.failed += len(items)
                        logger.warning(
                            "AFTER_COMMIT_SEND_FAILED",
                            kind=kind,
                            items=len(items),
                            error=type(exc).__name__,
                        )
                        _emit(
                            METRIC_SEND_FAILED,
                            labels={"kind": kind, "reason": type(exc).__name__},
                            items=len(items),
                        )
                    finally:
                        with self._cond:
                            self._done += len(items)
                            self._cond.notify_all()
        finally:
            if self._loop is not None:
                self._loop.close()
                self._loop = None


def _runs(batch: list[tuple[str, Any]]) -> list[tuple[str, list[Any]]]:
    """Consecutive items of one kind, in order."""
    runs: list[tuple[str, list[Any]]] = []
    for kind, item in batch:
        if runs and runs[-1][0] == kind:
            runs[-1][1].append(item)
        else:
            runs.append((kind, [item]))
    return runs


# --- the process's sender --------------------------------------------------------------------

_process_lock = threading.Lock()
_process: tuple[int, BackgroundSender] | None = None
_registry: dict[str, Handler] = {}


def _pid() -> int:
    return os.getpid()


def register_handler(kind: str, handler: Handler) -> None:
    """Declare a kind of after-commit item (at import/``ready()`` time, before any submit)."""
    _registry[kind] = handler


def background_enabled() -> bool:
    """Whether this process sends best-effort after-commit effects from the background
    thread (``AFTER_COMMIT_SENDER=background``)."""
    from django.conf import settings

    return str(getattr(settings, "AFTER_COMMIT_SENDER", "inline")) == "background"


def process_sender() -> BackgroundSender:
    """This process's sender (created on first use; a forked child gets its own)."""
    global _process
    pid = _pid()
    current = _process
    if current is not None and current[0] == pid:
        return current[1]
    with _process_lock:
        if _process is None or _process[0] != pid:
            from django.conf import settings

            sender = BackgroundSender(
                _registry,
                capacity=int(getattr(settings, "AFTER_COMMIT_QUEUE_CAPACITY", DEFAULT_CAPACITY)),
            )
            _process = (pid, sender)
        return _process[1]


def submit(kind: str, item: Any) -> bool:
    return process_sender().submit(kind, item)


def shutdown(timeout: float = 5.0) -> bool:
    """Flush and stop this process's sender (graceful shutdown); True when all was handled."""
    current = _process
    if current is None or current[0] != _pid():
        return True
    flushed = current[1].close(timeout)
    if not flushed:
        logger.warning("AFTER_COMMIT_FLUSH_TIMEOUT", pending=current[1].pending)
    return flushed
