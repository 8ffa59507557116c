"""The least-connections accept of the web workers (aventide/core/balance.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

import pytest

from aventide.core import balance
from aventide.core.balance import BalancedListener, Board


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_workers_claim_free_slots_and_the_slot_of_a_dead_worker() -> None:
    board = Board(2)
    assert board.claim(os.getpid()) == 0
    dead = _dead_pid()
    assert board.claim(dead) == 1
    board.publish(1, 7)
    replacement = os.getppid()  # the restarted worker takes the dead one's slot, count reset
    assert board.claim(replacement) == 1
    assert board.counts() == {os.getpid(): 0, replacement: 0}
    with pytest.raises(RuntimeError):
        board.claim(1)  # both slots held by live processes


def test_a_slot_silent_for_long_is_free_even_if_its_pid_lives_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker died and another program got its pid: the slot is not held forever."""
    board = Board(1)
    board.claim(os.getppid())
    later = balance._now_ms() + int(balance.ABANDONED_SECONDS * 1000) + 1
    monkeypatch.setattr(balance, "_now_ms", lambda: later)
    assert board.claim(os.getpid()) == 0
    assert board.counts() == {os.getpid(): 0}


def test_least_other_ignores_itself_empty_and_stale_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    board = Board(3)
    mine = board.claim(os.getpid())
    assert board.least_other(mine) is None  # nobody else yet
    other = board.claim(os.getppid())
    board.publish(mine, 1)
    board.publish(other, 5)
    assert board.least_other(mine) == 5
    assert board.least_other(other) == 1

    later = balance._now_ms() + int(balance.STALE_SECONDS * 1000) + 1
    monkeypatch.setattr(balance, "_now_ms", lambda: later)
    assert board.least_other(mine) is None  # a worker that stopped beating is not waited for


async def _serve(
    board: Board, slot: int, clients: int, protocol: type[asyncio.Protocol]
) -> tuple[BalancedListener, list[socket.socket], float]:
    listening = socket.create_server(("127.0.0.1", 0))
    connections: set[asyncio.Protocol] = set()

    class Tracked(protocol):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            connections.add(self)

    listener = BalancedListener(listening, Tracked, board, slot, connections)
    listener.start()
    started = time.monotonic()
    peers = [socket.create_connection(listening.getsockname()) for _ in range(clients)]
    while len(connections) < clients and time.monotonic() - started < 5:
        await asyncio.sleep(0.005)
    elapsed = time.monotonic() - started
    listener.close()
    listening.close()
    return listener, peers, elapsed


def test_a_worker_with_fewer_connections_than_the_others_accepts_at_once() -> None:
    board = Board(2)
    mine = board.claim(os.getpid())
    board.publish(board.claim(os.getppid()), 10)  # the other worker holds 10

    listener, peers, _ = asyncio.run(_serve(board, mine, 3, asyncio.Protocol))

    assert listener.held() == 3
    assert board.counts()[os.getpid()] == 3
    for peer in peers:
        peer.close()


def test_a_busier_worker_steps_aside_but_never_for_long() -> None:
    """Holding more than the least loaded live worker, it leaves the connection to that one;
    when nobody takes it within MAX_DEFER_SECONDS it accepts anyway."""
    board = Board(2)
    mine = board.claim(os.getpid())
    other = board.claim(os.getppid())
    board.publish(other, 0)  # an idle worker... that never accepts (not running here)
    board.publish(mine, 0)

    listener, peers, elapsed = asyncio.run(_serve(board, mine, 2, asyncio.Protocol))

    assert listener.held() == 2  # the first at once (0 <= 0), the second after stepping aside
    assert balance.MAX_DEFER_SECONDS <= elapsed < 2
    for peer in peers:
        peer.close()
