"""Serve the ASGI app with uvicorn: `python -m aventide.server` (make run / Procfile).

Validates the environment first, keeps uvicorn's access log off (it prints raw paths with
query strings; METRIC_HTTP_REQUEST replaces it) and routes uvicorn's own logs through the
project's JSON + redaction formatter.

Worker model (docs/operations/deployment.md): ``WEB_CONCURRENCY`` processes (default: one
per usable CPU, at most 8, with Redis; one in embedded mode), each with ``ASGI_THREADS``
sync threads and its own database pool; the workers share one listening socket and take
connections least-loaded first (aventide/core/balance.py). On SIGTERM (or SIGINT) every
process stops accepting connections, lets in-flight requests finish for up to
``WEB_GRACEFUL_TIMEOUT_SECONDS``, then cancels what is left; a process still alive
``HARD_EXIT_MARGIN_SECONDS`` later (a sync view that never returns) is ended, so a deploy
never hangs on one request. Workers send best-effort after-commit effects (outbox publishes,
live fan-out) from a background thread (``AFTER_COMMIT_SENDER=background``, the default
here), flushed for up to ``AFTER_COMMIT_FLUSH_SECONDS`` at shutdown.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import threading
import time
from socket import socket
from typing import Any

import uvicorn

from aventide.core.env import (
    DEFAULT_WEB_GRACEFUL_TIMEOUT_SECONDS,
    asgi_threads,
    db_pool_sizes,
    validate_env,
    web_concurrency,
    web_keepalive_seconds,
)

#: After the graceful timeout, how long cancelled requests get before the process is ended.
HARD_EXIT_MARGIN_SECONDS = 5.0
#: At shutdown, how long the background after-commit sender may take to flush its queue.
AFTER_COMMIT_FLUSH_SECONDS = 3.0
#: Exit status of a worker ended by the hard deadline (EX_SOFTWARE).
HARD_EXIT_STATUS = 70


def graceful_timeout_default() -> float:
    raw = (os.environ.get("WEB_GRACEFUL_TIMEOUT_SECONDS") or "").strip()
    return float(raw) if raw else DEFAULT_WEB_GRACEFUL_TIMEOUT_SECONDS


class GracefulServer(uvicorn.Server):
    """uvicorn's Server, letting the requests it cancelled at the graceful timeout answer.

    uvicorn cancels what still runs when ``timeout_graceful_shutdown`` ends, then returns at
    once (and re-raises the SIGTERM it caught, ending the process): a cancelled request would
    lose its connection without a response. Here they get a moment to send theirs (the ASGI
    handler answers 503 SERVICE_UNAVAILABLE in the error contract).
    """

    async def startup(self, sockets: list[socket] | None = None) -> None:
        # The app is imported (``config.load()``): freeze what start-up built before the
        # first request (aventide/core/heap.py).
        from aventide.core.heap import freeze_startup_heap
        from aventide.core.logging import get_logger

        frozen = freeze_startup_heap()
        get_logger("aventide.server").info("WEB_HEAP_FROZEN", pid=os.getpid(), objects=frozen)
        board = getattr(self, "board", None)
        if board is None or not sockets or self.config.ssl is not None:
            # one process, or TLS in the server itself (never set by this launcher): uvicorn's
            # own accept
            await super().startup(sockets=sockets)
            return
        await self._startup_balanced(sockets, board)

    async def _startup_balanced(self, sockets: list[socket], board: Any) -> None:
        """uvicorn's ``startup`` for sockets shared by every worker, each accepted through a
        ``BalancedListener`` (least-connections, aventide/core/balance.py) instead of
        ``loop.create_server``."""
        from aventide.core.balance import BalancedListener

        await self.lifespan.startup()
        if self.lifespan.should_exit:
            self.should_exit = True
            return
        config = self.config

        def create_protocol() -> asyncio.Protocol:
            protocol: asyncio.Protocol = config.http_protocol_class(  # type: ignore[call-arg]
                config=config, server_state=self.server_state, app_state=self.lifespan.state
            )
            return protocol

        for sock in sockets:
            sock.listen(config.backlog)  # what loop.create_server would do
        slot = board.claim(os.getpid())
        listeners = [
            BalancedListener(sock, create_protocol, board, slot, self.server_state.connections)
            for sock in sockets
        ]
        for listener in listeners:
            listener.start()
        # uvicorn closes its servers at shutdown; a listener has the same close()
        self.servers = listeners  # type: ignore[assignment]
        self.started = True

    async def shutdown(self, sockets: list[socket] | None = None) -> None:
        await super().shutdown(sockets=sockets)
        cancelled = list(self.server_state.tasks)
        if cancelled:
            await asyncio.wait(cancelled, timeout=HARD_EXIT_MARGIN_SECONDS)
        # The requests are done: hand what their commits queued to the broker / channel layer.
        from aventide.core import aftercommit

        await asyncio.to_thread(aftercommit.shutdown, AFTER_COMMIT_FLUSH_SECONDS)


class Worker:
    """One serving process: uvicorn's Server, plus a hard deadline once shutdown starts.

    Picklable (it crosses to the spawned worker processes with the server in it, and the
    server with its connection ``Board``).
    """

    def __init__(
        self,
        server: Any,
        hard_deadline_seconds: float,
    ) -> None:
        self.server = server
        self.hard_deadline_seconds = hard_deadline_seconds

    def run(self, sockets: list[socket] | None = None) -> None:
        threading.Thread(target=self._watchdog, name="shutdown-watchdog", daemon=True).start()
        self.server.run(sockets=sockets)

    def _watchdog(self) -> None:
        while not self.server.should_exit:
            time.sleep(0.1)
        time.sleep(self.hard_deadline_seconds)
        from aventide.core.logging import get_logger

        get_logger("aventide.server").error(
            "WEB_SHUTDOWN_FORCED", pid=os.getpid(), afterSeconds=self.hard_deadline_seconds
        )
        os._exit(HARD_EXIT_STATUS)


def _supervisor_class() -> Any:
    from uvicorn.supervisors import Multiprocess

    class Supervisor(Multiprocess):
        """uvicorn's process manager; on exit it also closes its own copy of the listening
        socket (so new connections are refused, not queued for nobody) and waits for the
        workers for a bounded time."""

        join_timeout_seconds: float = 60.0

        def terminate_all(self) -> None:
            for sock in self.sockets:
                sock.close()
            super().terminate_all()

        def join_all(self) -> None:
            deadline = time.monotonic() + self.join_timeout_seconds
            for process in self.processes:
                process.process.join(max(0.0, deadline - time.monotonic()))
                if process.process.is_alive():
                    process.kill()
                    process.process.join()

    return Supervisor


def main(argv: list[str] | None = None) -> None:
    validate_env()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aventide.settings")
    # Best-effort after-commit effects leave the request threads (docs/decisions/0018).
    os.environ.setdefault("AFTER_COMMIT_SENDER", "background")
    parser = argparse.ArgumentParser(description="Serve Aventide (ASGI: HTTP + WebSocket).")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--workers", type=int, default=web_concurrency())
    parser.add_argument(
        "--graceful-timeout", type=float, default=graceful_timeout_default(), metavar="SECONDS"
    )
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.graceful_timeout <= 0:
        parser.error("--workers must be >= 1 and --graceful-timeout > 0")

    import django

    django.setup()  # applies LOGGING (JSON + redaction) before uvicorn logs anything
    from django.conf import settings

    from aventide.core.logging import get_logger, log_runtime_flags

    log_runtime_flags()
    pool_min, pool_max = db_pool_sizes()
    get_logger("aventide.server").info(
        "WEB_RUNTIME",
        workers=1 if args.reload else args.workers,
        threadsPerWorker=asgi_threads(),
        dbPoolMin=pool_min,
        dbPoolMax=pool_max,
        gracefulTimeoutSeconds=args.graceful_timeout,
        keepAliveSeconds=web_keepalive_seconds(),
    )
    module, _, attribute = settings.ASGI_APPLICATION.rpartition(".")
    config = uvicorn.Config(
        f"{module}:{attribute}",  # Django's ASGI_APPLICATION (aventide.asgi.application)
        timeout_graceful_shutdown=args.graceful_timeout,
        # idle keep-alive connections: closed by the client (or its proxy) first, never by us
        # mid-request (aventide.core.env.DEFAULT_WEB_KEEPALIVE_SECONDS)
        timeout_keep_alive=web_keepalive_seconds(),  # type: ignore[arg-type]  # float is fine
        host=args.host,
        port=args.port,
        workers=args.workers,
        reload=args.reload,
        access_log=False,
        log_config=None,
        # X-Forwarded-For/-Proto only from TRUSTED_PROXIES (default: none); never uvicorn's
        # implicit 127.0.0.1 / FORWARDED_ALLOW_IPS (docs/decisions/0006-trusted-proxies.md).
        proxy_headers=bool(settings.TRUSTED_PROXIES),
        forwarded_allow_ips=",".join(settings.TRUSTED_PROXIES) or "",
        server_header=False,
        lifespan="off",
    )
    server = GracefulServer(config)
    worker = Worker(server, args.graceful_timeout + HARD_EXIT_MARGIN_SECONDS)
    if config.should_reload:  # development: uvicorn's reloader, one process
        from uvicorn.supervisors import ChangeReload

        ChangeReload(config, target=server.run, sockets=[config.bind_socket()]).run()
    elif config.workers > 1:
        # One socket shared by the workers, each accepting only while it holds no more
        # connections than the least loaded live one (aventide/core/balance.py).
        from aventide.core.balance import Board

        server.board = Board(config.workers)  # type: ignore[attr-defined]
        sockets: list[socket] = [config.bind_socket()]
        supervisor = _supervisor_class()(config, target=worker.run, sockets=sockets)
        supervisor.join_timeout_seconds = worker.hard_deadline_seconds + HARD_EXIT_MARGIN_SECONDS
        supervisor.run()
    else:
        worker.run()
        if not server.started:
            raise SystemExit(3)  # uvicorn's STARTUP_FAILURE (e.g. the port is taken)


if __name__ == "__main__":
    main()
