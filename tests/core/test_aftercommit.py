"""The per-process background sender of best-effort after-commit effects
(aventide/core/aftercommit.py, docs/decisions/0018): delivers in order, in batches per kind,
survives a failing handler, drops and counts on overflow, flushes on close."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from aventide.core import aftercommit
from aventide.core.aftercommit import METRIC_DROPPED, METRIC_SEND_FAILED, BackgroundSender
from aventide.core.metrics import count_of


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Any]]] = []
        self.lock = threading.Lock()

    def handler(self, kind: str) -> aftercommit.Handler:
        def handle(items: list[Any]) -> None:
            with self.lock:
                self.calls.append((kind, list(items)))

        return handle

    def items(self) -> list[tuple[str, Any]]:
        return [(kind, item) for kind, batch in self.calls for item in batch]


def test_delivers_everything_in_submission_order_across_kinds() -> None:
    rec = Recorder()
    sender = BackgroundSender({"a": rec.handler("a"), "b": rec.handler("b")})
    expected = []
    for n in range(2000):
        kind = "a" if n % 3 else "b"
        assert sender.submit(kind, n) is True
        expected.append((kind, n))
    assert sender.flush(timeout=10) is True
    assert rec.items() == expected
    assert sender.pending == 0
    assert sender.close(timeout=5) is True


def test_per_stream_order_holds_with_many_submitting_threads() -> None:
    """Each thread's items (one stream each) arrive in that thread's order."""
    rec = Recorder()
    sender = BackgroundSender({"live": rec.handler("live")})

    def produce(stream: int) -> None:
        for n in range(300):
            sender.submit("live", (stream, n))

    threads = [threading.Thread(target=produce, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sender.flush(timeout=10)
    seen: dict[int, list[int]] = {}
    for _, (stream, n) in rec.items():
        seen.setdefault(stream, []).append(n)
    assert seen == {s: list(range(300)) for s in range(8)}
    sender.close()


def test_items_are_batched_per_run_of_one_kind() -> None:
    gate = threading.Event()
    rec = Recorder()

    def slow(items: list[Any]) -> None:
        gate.wait(5)
        rec.handler("slow")(items)

    sender = BackgroundSender({"slow": slow, "x": rec.handler("x")})
    sender.submit("slow", 0)  # occupies the thread while the rest queues up
    time.sleep(0.05)
    for n in range(1, 6):
        sender.submit("x", n)
    sender.submit("slow", 6)
    gate.set()
    assert sender.flush(timeout=5)
    assert rec.calls == [("slow", [0]), ("x", [1, 2, 3, 4, 5]), ("slow", [6])]
    sender.close()


def test_a_failing_handler_loses_its_batch_only_and_is_counted() -> None:
    rec = Recorder()
    state = {"fail": True}

    def flaky(items: list[Any]) -> None:
        if state["fail"]:
            state["fail"] = False
            raise ConnectionError("broker down")
        rec.handler("flaky")(items)

    before = count_of(METRIC_SEND_FAILED, kind="flaky", reason="ConnectionError")
    sender = BackgroundSender({"flaky": flaky})
    sender.submit("flaky", "lost")
    assert sender.flush(timeout=5)
    sender.submit("flaky", "kept-1")
    sender.submit("flaky", "kept-2")
    assert sender.flush(timeout=5)
    assert rec.items() == [("flaky", "kept-1"), ("flaky", "kept-2")]
    assert sender.failed == 1
    assert count_of(METRIC_SEND_FAILED, kind="flaky", reason="ConnectionError") == before + 1
    sender.close()


def test_overflow_drops_new_items_and_counts_them() -> None:
    gate = threading.Event()
    rec = Recorder()

    def blocked(items: list[Any]) -> None:
        gate.wait(5)
        rec.handler("q")(items)

    before = count_of(METRIC_DROPPED, kind="q", reason="full")
    sender = BackgroundSender({"q": blocked}, capacity=3)
    assert sender.submit("q", 0)
    deadline = time.monotonic() + 2
    while sender._items and time.monotonic() < deadline:  # the thread took item 0
        time.sleep(0.005)
    accepted = [n for n in range(1, 8) if sender.submit("q", n)]
    assert accepted == [1, 2, 3]
    assert sender.dropped == 4
    assert count_of(METRIC_DROPPED, kind="q", reason="full") == before + 4
    gate.set()
    assert sender.flush(timeout=5)
    assert [item for _, item in rec.items()] == [0, 1, 2, 3]
    sender.close()


def test_close_flushes_what_was_queued_then_refuses_new_items() -> None:
    gate = threading.Event()
    rec = Recorder()

    def slow(items: list[Any]) -> None:
        gate.wait(5)
        rec.handler("s")(items)

    sender = BackgroundSender({"s": slow})
    for n in range(50):
        sender.submit("s", n)
    threading.Timer(0.1, gate.set).start()
    assert sender.close(timeout=5) is True
    assert [item for _, item in rec.items()] == list(range(50))
    before = count_of(METRIC_DROPPED, kind="s", reason="closed")
    assert sender.submit("s", 99) is False
    assert count_of(METRIC_DROPPED, kind="s", reason="closed") == before + 1
    assert sender._thread is not None and not sender._thread.is_alive()


def test_flush_times_out_on_a_stuck_handler() -> None:
    gate = threading.Event()

    def stuck(items: list[Any]) -> None:
        gate.wait(5)

    sender = BackgroundSender({"s": stuck})
    sender.submit("s", 1)
    assert sender.flush(timeout=0.1) is False
    assert sender.pending == 1
    gate.set()
    assert sender.flush(timeout=5) is True
    sender.close()


def test_the_thread_starts_on_first_submit_and_runs_async_handlers_on_its_own_loop() -> None:
    results: list[int] = []
    holder: dict[str, BackgroundSender] = {}

    async def double(n: int) -> int:
        return n * 2

    def handle(items: list[Any]) -> None:
        loop = holder["s"].event_loop()
        for n in items:
            results.append(loop.run_until_complete(double(n)))

    sender = BackgroundSender({"async": handle})
    holder["s"] = sender
    assert sender._thread is None
    sender.submit("async", 21)
    assert sender.flush(timeout=5)
    assert results == [42]
    sender.close()


def test_unknown_kind_is_a_programming_error() -> None:
    sender = BackgroundSender({})
    with pytest.raises(KeyError):
        sender.submit("nope", 1)


def test_process_sender_is_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    first = aftercommit.process_sender()
    assert aftercommit.process_sender() is first
    monkeypatch.setattr(aftercommit, "_pid", lambda: -12345)  # as in a forked child
    child = aftercommit.process_sender()
    assert child is not first
    assert aftercommit.shutdown(timeout=1) is True


def test_the_servers_graceful_shutdown_flushes_the_process_sender() -> None:
    """``python -m aventide.server``: after the in-flight requests, the worker hands what
    their commits queued to the broker/channel layer before the process ends."""
    import asyncio

    import uvicorn

    from aventide.server import GracefulServer

    gate = threading.Event()
    delivered: list[int] = []

    def slow(items: list[Any]) -> None:
        gate.wait(5)
        delivered.extend(items)

    aftercommit.register_handler("test.shutdown", slow)
    aftercommit.shutdown(timeout=1)  # a fresh sender for this test
    aftercommit._process = None
    try:
        for n in range(20):
            assert aftercommit.submit("test.shutdown", n)
        threading.Timer(0.2, gate.set).start()
        server = GracefulServer(uvicorn.Config(app=lambda *a: None, lifespan="off"))
        server.servers = []  # nothing was started: only the shutdown sequence runs
        server.force_exit = True  # (no lifespan, no connections to wait for)
        asyncio.run(server.shutdown(sockets=[]))
        assert delivered == list(range(20))
        assert aftercommit.submit("test.shutdown", 99) is False  # closed with the process
    finally:
        aftercommit._process = None
        aftercommit._registry.pop("test.shutdown", None)
