"""Connections spread evenly over the web workers: a least-connections accept.

Every worker of ``python -m aventide.server`` listens on one shared socket. A worker accepts
a waiting connection only while it holds no more connections than the least loaded *live*
worker; otherwise it steps aside for ``DEFER_SECONDS`` and the less loaded one (woken by the
same readiness) accepts it. Each worker publishes its count on a ``Board`` in shared memory.

Why not the kernel: with one ``SO_REUSEPORT`` socket per worker the kernel hashes each
connection to a worker at random, and a few long-lived connections -- a proxy's keep-alive
pool, the bench's 16 clients -- split 6/10 or 4/12 as often as 8/8. The busier worker's
clients then wait behind more requests for the same CPU: at 16 senders the send's p95 was
~10-20% higher in the uneven runs (docs/decisions/0022-web-worker-runtime.md). With one
plain shared socket, whichever worker wakes first takes the whole burst.

Liveness: a worker's entry counts only while its process is alive and its event loop has
published within ``STALE_SECONDS`` -- a stuck or dead worker is never waited for -- and a
worker that has stepped aside for ``MAX_DEFER_SECONDS`` in a row accepts anyway. A restarted
worker takes the slot of a dead one, or of one silent for ``ABANDONED_SECONDS`` (its pid may
since belong to another program).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import socket
import time
from collections.abc import Callable, Sized
from typing import Any

from aventide.core.logging import get_logger

#: how long a worker with more connections than another steps aside before looking again
DEFER_SECONDS = 0.002
#: a worker that has stepped aside this long in a row accepts anyway (the other is slow)
MAX_DEFER_SECONDS = 0.05
#: how often a worker publishes its count; an entry older than STALE_SECONDS is ignored
BEAT_SECONDS = 0.2
STALE_SECONDS = 1.0
#: a slot whose owner has not beaten for this long is free to claim, even if a process with
#: its pid exists (the pid reused by another program after the worker died)
ABANDONED_SECONDS = 10.0
#: connections accepted per readiness callback at most (the event loop serves the rest)
ACCEPT_BATCH = 16

_PID, _COUNT, _BEAT = 0, 1, 2
_FIELDS = 3

logger = get_logger("aventide.server")


def _now_ms() -> int:
    return int(time.monotonic() * 1000)  # CLOCK_MONOTONIC: one clock for every process


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Board:
    """Each worker's pid, connection count and last beat, in memory shared by the workers.

    Created by the supervisor before it starts them (it travels to each worker with the
    process's arguments); a worker claims a slot at start-up -- a free one, or the slot of a
    worker that died."""

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("at least one slot")
        self.slots = slots
        self._shared = multiprocessing.get_context("spawn").Array("q", slots * _FIELDS)

    def claim(self, pid: int) -> int:
        values = self._shared
        abandoned_before = _now_ms() - int(ABANDONED_SECONDS * 1000)
        with values.get_lock():
            for slot in range(self.slots):
                owner = int(values[slot * _FIELDS + _PID])
                beat = int(values[slot * _FIELDS + _BEAT])
                if owner in (0, pid) or beat < abandoned_before or not _alive(owner):
                    values[slot * _FIELDS + _PID] = pid
                    values[slot * _FIELDS + _COUNT] = 0
                    values[slot * _FIELDS + _BEAT] = _now_ms()
                    return slot
        raise RuntimeError(f"no free slot among {self.slots} for worker {pid}")

    def publish(self, slot: int, connections: int) -> None:
        """This worker's count (one writer per slot: no lock)."""
        values = self._shared.get_obj()
        values[slot * _FIELDS + _COUNT] = connections
        values[slot * _FIELDS + _BEAT] = _now_ms()

    def least_other(self, slot: int) -> int | None:
        """The smallest count among the other live workers (None: there is none)."""
        values = self._shared.get_obj()
        fresh_after = _now_ms() - int(STALE_SECONDS * 1000)
        least: int | None = None
        for other in range(self.slots):
            if other == slot:
                continue
            base = other * _FIELDS
            if int(values[base + _PID]) == 0 or int(values[base + _BEAT]) < fresh_after:
                continue
            count = int(values[base + _COUNT])
            if least is None or count < least:
                least = count
        return least

    def counts(self) -> dict[int, int]:
        """pid -> published count, for diagnostics and tests."""
        values = self._shared.get_obj()
        return {
            int(values[s * _FIELDS + _PID]): int(values[s * _FIELDS + _COUNT])
            for s in range(self.slots)
            if values[s * _FIELDS + _PID]
        }


class BalancedListener:
    """Accepts on a shared listening socket for one worker, least-connections first.

    Looks like the ``asyncio.Server`` uvicorn keeps in ``Server.servers`` (``close``,
    ``wait_closed``); each accepted socket gets uvicorn's protocol through
    ``loop.connect_accepted_socket``."""

    def __init__(
        self,
        sock: socket.socket,
        protocol_factory: Callable[[], asyncio.Protocol],
        board: Board,
        slot: int,
        connections: Sized,
    ) -> None:
        self._sock = sock
        self._factory = protocol_factory
        self._board = board
        self._slot = slot
        self._connections = connections
        self._pending = 0
        self._deferred_since: float | None = None
        self._closed = False
        self._reading = False
        # the event loop keeps only weak references to tasks: hold the hand-offs until done
        self._handoffs: set[asyncio.Task[None]] = set()
        self._beat_timer: asyncio.TimerHandle | None = None
        self._resume_timer: asyncio.TimerHandle | None = None
        self._loop = asyncio.get_running_loop()

    def start(self) -> None:
        self._sock.setblocking(False)
        self._resume()
        self._beat()

    def held(self) -> int:
        return len(self._connections) + self._pending

    def _beat(self) -> None:
        if self._closed:
            return
        self._board.publish(self._slot, self.held())
        self._beat_timer = self._loop.call_later(BEAT_SECONDS, self._beat)

    def _resume(self) -> None:
        self._resume_timer = None
        if self._closed or self._reading:
            return
        self._loop.add_reader(self._sock.fileno(), self._on_readable)
        self._reading = True

    def _step_aside(self, seconds: float) -> None:
        if self._reading:
            self._loop.remove_reader(self._sock.fileno())
            self._reading = False
        if self._resume_timer is None:
            self._resume_timer = self._loop.call_later(seconds, self._resume)

    def _on_readable(self) -> None:
        for _ in range(ACCEPT_BATCH):
            held = self.held()
            least = self._board.least_other(self._slot)
            if least is not None and held > least:
                now = time.monotonic()
                if self._deferred_since is None:
                    self._deferred_since = now
                if now - self._deferred_since < MAX_DEFER_SECONDS:
                    self._step_aside(DEFER_SECONDS)
                    return
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                self._deferred_since = None
                return
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS...: back off, keep serving
                logger.error("WEB_ACCEPT_FAILED", error=type(exc).__name__, errno=exc.errno)
                self._step_aside(0.1)
                return
            self._deferred_since = None
            self._pending += 1
            self._board.publish(self._slot, held + 1)
            conn.setblocking(False)
            task = self._loop.create_task(self._serve(conn))
            self._handoffs.add(task)
            task.add_done_callback(self._handoffs.discard)

    async def _serve(self, conn: socket.socket) -> None:
        try:
            await self._loop.connect_accepted_socket(self._factory, conn)
        except OSError:  # the peer went away before its protocol was made
            conn.close()
        finally:
            self._pending -= 1

    # --- what uvicorn's Server calls on its servers ---------------------------------------

    def close(self) -> None:
        self._closed = True
        if self._reading:
            self._loop.remove_reader(self._sock.fileno())
            self._reading = False
        for timer in (self._beat_timer, self._resume_timer):
            if timer is not None:
                timer.cancel()
        self._beat_timer = self._resume_timer = None

    async def wait_closed(self) -> None:
        return None

    @property
    def sockets(self) -> tuple[Any, ...]:
        return (self._sock,)
