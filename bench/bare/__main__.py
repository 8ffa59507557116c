"""Serve the bare ceiling app: ``python -m bench.bare --host 127.0.0.1 --port N``.

The uvicorn options mirror ``aventide.server`` (access log off, no log config, proxy headers
off, no server header, lifespan off, ``WEB_CONCURRENCY`` workers) so the two servers differ
only in the application. With several workers, each worker process listens on a
``SO_REUSEPORT`` socket of its own, as ``aventide.server`` does (``reuse_port_socket``): with
uvicorn's one shared socket, 16 keep-alive clients can all land on one process, which would
make the ceiling of a 2-worker run a 1-worker figure. If ``aventide.server`` changes how it runs
uvicorn, change this too.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import signal
import socket
from typing import Any


def _config(host: str, port: int) -> Any:
    import uvicorn

    return uvicorn.Config(
        "bench.bare.asgi:application",
        host=host,
        port=port,
        access_log=False,
        log_config=None,
        proxy_headers=False,  # as aventide.server without TRUSTED_PROXIES
        server_header=False,
        lifespan="off",
    )


def _serve_own_socket(host: str, port: int) -> None:
    """One worker on a SO_REUSEPORT socket of its own, bound as ``aventide.server``'s
    ``reuse_port_socket`` binds it (not imported: importing the launcher validates the
    application's environment, which the bare server does not have)."""
    import uvicorn

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    uvicorn.Server(_config(host, port)).run(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the bare Django ASGI ceiling app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    args = parser.parse_args(argv)

    if args.workers <= 1:
        import uvicorn

        uvicorn.Server(_config(args.host, args.port)).run()
        return
    context = multiprocessing.get_context("fork")  # nothing imported yet to inherit
    workers = [
        context.Process(target=_serve_own_socket, args=(args.host, args.port), daemon=True)
        for _ in range(args.workers)
    ]
    for process in workers:
        process.start()

    def stop(signum: int, _frame: object) -> None:
        for process in workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for process in workers:
        process.join()


if __name__ == "__main__":
    main()
