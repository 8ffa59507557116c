"""Serve the ASGI app with uvicorn: `python -m aventide.server` (make run / Procfile).

Validates the environment first, keeps uvicorn's access log off (it prints raw paths with
query strings; METRIC_HTTP_REQUEST replaces it) and routes uvicorn's own logs through the
project's JSON + redaction formatter.
"""

from __future__ import annotations

import argparse
import os

from aventide.core.env import validate_env


def main(argv: list[str] | None = None) -> None:
    validate_env()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aventide.settings")
    parser = argparse.ArgumentParser(description="Serve Aventide (ASGI: HTTP + WebSocket).")
    parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "1")))
    parser.add_argument("--reload", action="store_true")
    args = parser.parse_args(argv)

    import django
    import uvicorn

    django.setup()  # applies LOGGING (JSON + redaction) before uvicorn logs anything
    from aventide.core.logging import log_runtime_flags

    log_runtime_flags()
    uvicorn.run(
        "aventide.asgi:application",
        host=args.host,
        port=args.port,
        workers=args.workers,
        reload=args.reload,
        access_log=False,
        log_config=None,
        proxy_headers=True,
        server_header=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
