"""The ASGI request path: no sync-only middleware, one thread hop per request, bounded threads.

Requests go through the real ``aventide.asgi.application`` in process (httpx's ASGI transport),
so what is counted is what uvicorn would run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import httpx
import pytest
from asgiref.sync import SyncToAsync
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.utils.module_loading import import_string

from aventide.core.asgi_runtime import OneHopASGIHandler, SyncThreads
from tests.accounts.factories import login_headers, make_user


def asgi_client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver")


def test_every_configured_middleware_is_sync_and_async_capable() -> None:
    for path in settings.MIDDLEWARE:
        middleware = import_string(path)
        assert getattr(middleware, "sync_capable", True), path
        assert getattr(middleware, "async_capable", False), f"{path} is sync-only"
    assert not any("whitenoise" in path for path in settings.MIDDLEWARE), (
        "static files are served beside Django, not by a middleware on every request"
    )


def test_an_async_middleware_chain_would_need_no_adapter(settings, caplog) -> None:
    """Django's own async chain (the switch for async views) adapts no middleware."""
    settings.DEBUG = True  # Django only logs the adaptations in debug
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        ASGIHandler()
    adapted = [r.getMessage() for r in caplog.records if "adapted for" in r.getMessage()]
    assert adapted == []


def test_the_one_hop_handler_runs_the_chain_in_sync_mode(settings, caplog) -> None:
    settings.DEBUG = True
    with caplog.at_level(logging.DEBUG, logger="django.request"):
        handler = OneHopASGIHandler(SyncThreads(1))
    assert [r.getMessage() for r in caplog.records if "adapted for" in r.getMessage()] == []
    assert not asyncio.iscoroutinefunction(handler._middleware_chain)  # type: ignore[attr-defined]


@pytest.fixture
def hops(monkeypatch) -> list[tuple[str, str]]:
    """Every sync_to_async call made while the fixture is active: (function, thread name)."""
    seen: list[tuple[str, str]] = []
    original = SyncToAsync.thread_handler

    def thread_handler(self, *args, **kwargs):
        name = getattr(self.func, "__qualname__", type(self.func).__name__)
        seen.append((name, threading.current_thread().name))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SyncToAsync, "thread_handler", thread_handler)
    return seen


@pytest.fixture
def me_headers(transactional_db) -> dict[str, str]:
    token = login_headers(make_user(email="hops@example.test"))["HTTP_AUTHORIZATION"]
    return {"Authorization": token}


async def test_an_api_request_makes_one_hop_on_one_pool_thread(me_headers, hops) -> None:
    from aventide.asgi import application

    async with asgi_client(application) as client:
        response = await client.get("/api/auth/me", headers=me_headers)

    assert response.status_code == 200, response.text
    assert response.json()["email"] == "hops@example.test"
    # request_started receivers + the whole middleware chain + view + response.close(), together
    assert [name for name, _ in hops] == ["OneHopASGIHandler._respond"], hops
    threads = {thread for _, thread in hops}
    assert len(threads) == 1 and threads.pop().startswith("aventide-sync-"), hops


async def test_an_api_error_also_makes_one_hop(hops) -> None:
    from aventide.asgi import application

    async with asgi_client(application) as client:
        response = await client.get("/api/auth/me")  # no credentials: 401 from DRF

    assert response.status_code == 401
    assert response.json()["code"] == "AUTH_REQUIRED"
    assert len(hops) == 1, hops


async def test_the_request_signals_fire_once_and_the_connection_is_returned(
    me_headers, monkeypatch
) -> None:
    """One hop still fires request_started and request_finished (the pool gets the
    connection back) exactly once per request, in that order, on the request's thread."""
    from django.core import signals

    from aventide.asgi import application

    fired: list[tuple[str, str]] = []

    def started(**kwargs: Any) -> None:
        fired.append(("started", threading.current_thread().name))

    def finished(**kwargs: Any) -> None:
        fired.append(("finished", threading.current_thread().name))

    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    try:
        async with asgi_client(application) as client:
            response = await client.get("/api/auth/me", headers=me_headers)
    finally:
        signals.request_started.disconnect(started)
        signals.request_finished.disconnect(finished)

    assert response.status_code == 200
    assert [what for what, _ in fired] == ["started", "finished"]
    assert len({thread for _, thread in fired}) == 1


async def test_sync_threads_bound_the_concurrent_requests() -> None:
    threads = SyncThreads(2, name="bounded")
    inside = 0
    peak = 0
    names: set[str] = set()

    async def request() -> None:
        nonlocal inside, peak
        async with threads.context() as executor:
            inside += 1
            peak = max(peak, inside)
            name = await asyncio.get_running_loop().run_in_executor(
                executor, lambda: threading.current_thread().name
            )
            names.add(name)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(request() for _ in range(10)))

    assert peak == 2
    assert len(names) == 2 and all(n.startswith("bounded-") for n in names)
    assert threads.idle == 2 and threads.waiting == 0


async def test_a_request_cancelled_while_waiting_for_a_thread_gives_nothing_away() -> None:
    threads = SyncThreads(1, name="cancel")
    release = asyncio.Event()

    async def holder() -> None:
        async with threads.context():
            await release.wait()

    async def waiter() -> None:
        async with threads.context():
            pass

    holding = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiting = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    assert threads.waiting == 1
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    release.set()
    await holding
    assert threads.idle == 1 and threads.waiting == 0
    async with threads.context():  # still usable
        pass
