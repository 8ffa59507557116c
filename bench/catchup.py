"""Realtime catchup benchmark: ``GET /api/realtime/catchup`` on a large event log, over HTTP,
against the production server.

    python -m bench.catchup                       # 100,000 then 1,000,000 events (make bench)
    python -m bench.catchup --quick               # a smoke check: small log, few requests
    python -m bench.catchup --sizes 1000 --requests 30 --runs 1 --reset-db

What it does, all on 127.0.0.1 and bounded (every process it starts is stopped at the end):

1. Prepares the bench database (``bench.http_paths.prepare_database``; ``--reset-db`` drops
   it first), migrates it and seeds one buyer with an access token through
   ``bench/setup_data.py`` (the only bench module that imports the application).
2. Bulk-loads the event log straight in SQL (``INSERT ... SELECT generate_series``, not
   through ``publish``): events spread round-robin over ``--streams`` order streams (10,000),
   each addressed to the stream's buyer, seller, anonymous recipient and the ``staff:AR``
   queue -- 4 inbox rows per event, like the orders wiring writes. The measured buyer is the
   buyer of 1 stream in 100, so 1% of the log is theirs (1,000 events at 100,000; 10,000 at
   1,000,000). Then ``VACUUM ANALYZE`` (what autovacuum does to a table this size).
3. Starts ``python -m aventide.server`` with production settings (``bench.http_paths``'s
   environment), checks one catchup answers exactly ``limit`` events with ``hasMore``, then
   per (log size, limit): ``--runs`` runs of ``--requests`` catchups (after ``--warmup``)
   from ``--clients`` keep-alive clients, each from a random cursor of the buyer's own
   events with at least ``limit`` events after it. A point is the median of its runs.
4. Prints the table and the targets (p95 <= 15 ms at 100 events, <= 50 ms at 500) and writes
   every figure to ``--json``.

Sizes grow in place: the log is loaded to the first size, measured, extended to the next.
Exit status: 0 all 2xx; 1 an error or a failed check; 3 with ``--enforce`` and a missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from bench.http_paths import (
    DEFAULT_REDIS_URL,
    HOST,
    Req,
    Server,
    Timer,
    check_loopback,
    free_port,
    git_revision,
    machine_info,
    new_run_secrets,
    prepare_database,
    recorded_settings,
    run_checked,
    run_load,
    run_setup,
    server_env,
    serving,
)
from bench.report import median_of

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/aventide_bench_catchup"
PATH = "/api/realtime/catchup"
#: the issue's targets: p95 (ms) of a catchup returning this many events
TARGETS = {100: 15.0, 500: 50.0}
#: 1 stream in this many has the measured buyer as its buyer
BUYER_EVERY = 100


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small log, few requests, 1 run")
    p.add_argument("--sizes", default=None, help="log sizes, ascending (default 100000,1000000)")
    p.add_argument("--streams", type=int, default=10_000)
    p.add_argument("--limits", default="100,500")
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--requests", type=int, default=None)
    p.add_argument("--warmup", type=int, default=None)
    p.add_argument("--runs", type=int, default=None)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    p.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    p.add_argument("--reset-db", action="store_true")
    p.add_argument("--var-dir", default=str(Path("var") / "bench"))
    p.add_argument("--json", dest="json_path", default=None)
    p.add_argument("--request-timeout", type=float, default=10.0)
    p.add_argument("--point-timeout", type=float, default=600.0)
    p.add_argument("--token-ttl", type=int, default=4 * 3600)
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the server")
    p.add_argument("--enforce", action="store_true", help="exit 3 when a target is missed")
    args = p.parse_args(argv)
    check_loopback(args.database_url, "--database-url")
    check_loopback(args.redis_url, "--redis-url")
    quick = args.quick
    args.sizes = [
        int(s) for s in (args.sizes or ("5000" if quick else "100000,1000000")).split(",")
    ]
    if args.sizes != sorted(args.sizes):
        raise SystemExit("--sizes must be ascending (the log grows in place)")
    args.limits = [int(x) for x in args.limits.split(",")]
    args.requests = args.requests or (30 if quick else 500)
    args.warmup = args.warmup if args.warmup is not None else (5 if quick else 50)
    args.runs = args.runs or (1 if quick else 3)
    if quick:  # one stream of the buyer's: 1% of a small log is still a few pages
        args.streams = BUYER_EVERY
    return args


def _log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


# --- the log, in SQL ------------------------------------------------------------------------------

_LOAD_EVENTS = """
INSERT INTO realtime_event (stream, type, payload, country_code, created_at)
SELECT 'order:' || (1 + (g %% %(streams)s)), 'order.status_changed',
       jsonb_build_object('orderId', 1 + (g %% %(streams)s), 'status', 'paid',
                          'from', 'pending_payment'),
       'AR', now() - make_interval(secs => (%(last)s - g) * 0.01)
FROM generate_series(%(first)s, %(last)s - 1) AS g
ORDER BY g
"""

# Each new event's inbox rows: the buyer (the measured one on 1 stream in BUYER_EVERY), the
# seller, the anonymous recipient and the country's staff queue.
_LOAD_INBOX = """
INSERT INTO realtime_inboxentry (audience_key, event_id, stream)
SELECT k.key, e.id, e.stream
FROM realtime_event e
CROSS JOIN LATERAL (SELECT substr(e.stream, 7)::bigint AS s) AS st
CROSS JOIN LATERAL (VALUES
    (CASE WHEN st.s %% %(every)s = 0 THEN 'user:' || %(buyer)s
          ELSE 'user:' || (2000000 + st.s) END),
    ('user:' || (3000000 + st.s %% 500)),
    ('anon:' || (md5('anon' || st.s)::uuid)::text),
    ('staff:AR')
) AS k(key)
WHERE e.id > %(after)s
"""


def load_log(database_url: str, *, have: int, size: int, streams: int, buyer_id: int) -> float:
    """Grow the log from ``have`` to ``size`` events; returns the seconds it took."""
    import psycopg

    started = time.monotonic()
    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SET synchronous_commit = off")
        if have == 0:
            conn.execute(
                "TRUNCATE realtime_inboxentry, realtime_event, realtime_retentionmark "
                "RESTART IDENTITY"
            )
        row = conn.execute("SELECT COALESCE(max(id), 0) FROM realtime_event").fetchone()
        after = int(row[0]) if row else 0
        with conn.transaction():
            conn.execute(_LOAD_EVENTS, {"streams": streams, "first": have, "last": size})
            conn.execute(_LOAD_INBOX, {"every": BUYER_EVERY, "buyer": buyer_id, "after": after})
        conn.execute("VACUUM ANALYZE realtime_event")
        conn.execute("VACUUM ANALYZE realtime_inboxentry")
    return time.monotonic() - started


def buyer_event_ids(database_url: str, buyer_id: int) -> list[int]:
    import psycopg

    with psycopg.connect(database_url, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT event_id FROM realtime_inboxentry WHERE audience_key = %s ORDER BY event_id",
            [f"user:{buyer_id}"],
        ).fetchall()
    return [int(r[0]) for r in rows]


def table_sizes(database_url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(database_url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM realtime_event), (SELECT count(*) FROM "
            "realtime_inboxentry), pg_total_relation_size('realtime_event'), "
            "pg_total_relation_size('realtime_inboxentry')"
        ).fetchone()
    assert row is not None
    return {
        "events": int(row[0]),
        "inbox_rows": int(row[1]),
        "event_table_mb": round(int(row[2]) / 2**20, 1),
        "inbox_table_mb": round(int(row[3]) / 2**20, 1),
    }


# --- measuring ------------------------------------------------------------------------------------


def plan(ids: list[int], limit: int, count: int, token: str, rng: random.Random) -> list[Req]:
    """``count`` catchups, each from a random cursor with at least ``limit`` events after it."""
    if len(ids) <= limit:
        raise SystemExit(f"the buyer has {len(ids)} events, fewer than limit {limit}: grow --sizes")
    starts = [0, *ids[: len(ids) - limit]]  # since=0 too: the oldest page
    return [
        Req("GET", f"{PATH}?since={rng.choice(starts)}&limit={limit}", token) for _ in range(count)
    ]


def check_answer(base_url: str, token: str, ids: list[int], limit: int) -> None:
    """One catchup must return exactly the next ``limit`` of the buyer's events."""
    import httpx

    if len(ids) <= limit + 1:
        raise SystemExit(f"the buyer has {len(ids)} events, too few for limit {limit}")
    since = ids[(len(ids) - limit - 1) // 2]  # more than ``limit`` events follow it
    response = httpx.get(
        f"{base_url}{PATH}",
        params={"since": since, "limit": limit},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    body = response.json()
    got = [e["id"] for e in body.get("events", [])]
    expected = [i for i in ids if i > since][:limit]
    if response.status_code != 200 or got != expected or body.get("hasMore") is not True:
        raise SystemExit(
            f"catchup check failed: HTTP {response.status_code}, {len(got)} events "
            f"(expected {len(expected)}), hasMore={body.get('hasMore')}"
        )


def measure(
    server: Server, args: argparse.Namespace, ids: list[int], token: str, size: int
) -> list[dict[str, Any]]:
    rng = random.Random(size)
    points = []
    for limit in args.limits:
        check_answer(server.base_url, token, ids, limit)
        runs = []
        for run_no in range(1, args.runs + 1):
            timer = Timer(server, None)
            result = asyncio.run(
                run_load(
                    server.base_url,
                    plan(ids, limit, args.warmup, token, rng),
                    plan(ids, limit, args.requests, token, rng),
                    concurrency=args.clients,
                    request_timeout=args.request_timeout,
                    point_timeout=args.point_timeout,
                    timer=timer,
                    run_tag=f"catchup-{size}-{limit}-r{run_no}",
                )
            )
            summary = result.summary()
            runs.append(summary)
            _log(
                f"{size:,} events, limit {limit}, run {run_no}: p50 {summary['p50_ms']} ms, "
                f"p95 {summary['p95_ms']} ms, {summary['rps']} req/s, errors {summary['errors']}"
            )
        points.append(
            {
                "events": size,
                "limit": limit,
                "clients": args.clients,
                "runs": runs,
                "requests_per_run": args.requests,
                "p50_ms": median_of([r["p50_ms"] for r in runs]),
                "p95_ms": median_of([r["p95_ms"] for r in runs]),
                "p99_ms": median_of([r["p99_ms"] for r in runs]),
                "rps": median_of([r["rps"] for r in runs]),
                "server_cpu_ms_per_req": median_of([r["server_cpu_ms_per_req"] for r in runs]),
                "errors": sum(r["errors"] + r["warmup_errors"] for r in runs),
                "target_p95_ms": TARGETS.get(limit),
                # the machine is shared: the load next to the figures says how quiet it was
                "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            }
        )
    return points


def render(points: list[dict[str, Any]]) -> str:
    lines = [
        "| events in the log | limit | clients | p50 ms | p95 ms | p99 ms | req/s "
        "| server CPU ms/req | errors | target p95 | met |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in points:
        target = p["target_p95_ms"]
        met = "-" if target is None else ("yes" if (p["p95_ms"] or 1e9) <= target else "**NO**")
        lines.append(
            f"| {p['events']:,} | {p['limit']} | {p['clients']} | {p['p50_ms']} | {p['p95_ms']} "
            f"| {p['p99_ms']} | {p['rps']} | {p['server_cpu_ms_per_req']} | {p['errors']} "
            f"| {'-' if target is None else f'<= {target:g} ms'} | {met} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    var = Path(args.var_dir)
    var.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    setup_log = var / f"catchup-setup-{stamp}.log"
    server_log = var / f"catchup-server-{stamp}.log"
    json_path = Path(args.json_path) if args.json_path else var / f"catchup-{stamp}.json"
    args.pg_guard = None  # (http_paths' environment reads these)
    env = server_env(args, new_run_secrets())
    runtime = Path(env["AVENTIDE_VAR_DIR"])
    (runtime / "static").mkdir(parents=True, exist_ok=True)
    (runtime / "prometheus").mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "benchmark": "bench/catchup.py",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_revision(),
        "machine": machine_info(args.database_url, args.redis_url),
        "settings": recorded_settings(env, args),
        "options": {
            "sizes": args.sizes,
            "streams": args.streams,
            "limits": args.limits,
            "clients": args.clients,
            "requests": args.requests,
            "warmup": args.warmup,
            "runs": args.runs,
            "workers": args.workers,
        },
        "loads": [],
        "points": [],
    }
    prepare_database(args)
    _log("migrating")
    run_checked([sys.executable, "manage.py", "migrate", "--noinput"],
                env=env, log=setup_log, timeout=600)  # fmt: skip
    seed = run_setup(["seed", "--pairs", "1", "--reader-orders", "0"],
                     env=env, log=setup_log, timeout=600)  # fmt: skip
    buyer_id, token = int(seed["pairs"][0]["buyer_id"]), seed["pairs"][0]["buyer_token"]
    port = free_port()
    server = Server(
        [sys.executable, "-m", "aventide.server", "--host", HOST, "--port", str(port)],
        env=env, log=server_log, ready_path="/healthz", port=port,
    )  # fmt: skip
    have = 0
    try:
        for size in args.sizes:
            _log(f"loading the log to {size:,} events over {args.streams:,} streams")
            took = load_log(
                args.database_url, have=have, size=size, streams=args.streams, buyer_id=buyer_id
            )
            have = size
            sizes = table_sizes(args.database_url)
            ids = buyer_event_ids(args.database_url, buyer_id)
            report["loads"].append(
                {"events": size, "seconds": round(took, 1), "buyer_events": len(ids), **sizes}
            )
            _log(f"loaded in {took:.0f}s: {sizes}, the buyer has {len(ids):,} events")
            with serving(server):
                report["points"].extend(measure(server, args, ids, token, size))
    finally:
        server.stop()
    report["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    table = render(report["points"])
    print(table)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2))
    _log(f"results: {json_path}")
    if any(p["errors"] for p in report["points"]):
        return 1
    missed = [
        p
        for p in report["points"]
        if p["target_p95_ms"] is not None and (p["p95_ms"] or 1e9) > p["target_p95_ms"]
    ]
    return 3 if missed and args.enforce else 0


if __name__ == "__main__":
    raise SystemExit(main())
