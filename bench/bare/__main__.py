"""Serve the bare ceiling app: ``python -m bench.bare --host 127.0.0.1 --port N``.

The uvicorn options mirror ``aventide.server`` (access log off, no log config, proxy headers,
no server header, lifespan off, ``WEB_CONCURRENCY`` workers) so the two servers differ only
in the application. If ``aventide.server`` changes how it runs uvicorn, change this too.
"""

from __future__ import annotations

import argparse
import os


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the bare Django ASGI ceiling app.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    args = parser.parse_args(argv)

    import uvicorn

    uvicorn.run(
        "bench.bare.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=False,
        log_config=None,
        proxy_headers=False,  # as aventide.server without TRUSTED_PROXIES
        server_header=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
