"""The chat's send path under load (issue 14): `bench/http_paths.py` with the ``send`` endpoint.

    python -m bench.send_message                  # 1 and 16 senders, 2 workers, 3 runs, wrk
    python -m bench.send_message --quick          # a smoke check
    python -m bench.send_message --profile send   # + py-spy of the server during one more run

Every send is the full path over HTTP to the ASGI server at production settings (DEBUG off,
PostgreSQL + Redis): JWT authentication, the rate limits on Redis, moderation, the
conversation's row lock, the message INSERT, ``last_seq``, the audit row, the realtime event
and its inbox rows, the notification bridge's decisions. Each of the seeded buyer/seller pairs
has its own active order chat; simulated client ``i`` writes as the buyer of pair
``i % pairs``, with its own clientMessageId and an everyday body.

In the same run: the bare Django ASGI view and raw psycopg 3-insert commits at 8 connections
(the ceilings), and the SQL statements of one send (``queries``). Any extra argument is passed
to `bench.http_paths` (its later flags win). Floors: >= 250 sends/s and p95 <= 60 ms at 16
senders, 0 errors (bench/README.md).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from bench import http_paths

DEFAULTS = (
    "--endpoints",
    "send,bare,psycopg",
    "--workers",
    "2",
    "--concurrency",
    "1,16",
    "--generator",
    "wrk",
    "--max-pg-connections",
    "16",
)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return http_paths.main([*DEFAULTS, *args])


if __name__ == "__main__":
    raise SystemExit(main())
