"""Fan-out benchmark: WebSocket clients on order streams across two server processes.

    python -m bench.fanout                          # 200 clients, 50 orders, 200 events/s, 20 s
    python -m bench.fanout --layer core --env CHANNEL_LAYER_CAPACITY=100
    python -m bench.fanout --quick                  # 40 clients, 10 orders, 5 s

What it does, all on 127.0.0.1 and bounded (every process it starts is ended at the end):

1. Prepares the bench database (created if missing; ``--reset-db`` drops it first), migrates
   it and seeds it with ``bench/fanout_app.py setup`` (the only module here that imports the
   application): N orders, each watched by its buyer, the seller, its anonymous recipient and
   an AR staff member (4 clients per order stream).
2. Starts two production servers (``python -m aventide.server``, one worker each, on two
   ports) on one Redis channel layer (``--layer pubsub|core``). Clients alternate between them.
3. Each client gets a ticket over HTTP (``POST /api/auth/ws-token``, JWT or the anonymous
   headers), opens ``/ws/realtime/`` (ticket in ``Sec-WebSocket-Protocol``), subscribes to
   its order's stream with ``since`` = the log's cursor before the run.
4. ``bench/fanout_app.py publish`` publishes ``--rate`` events/s for ``--seconds`` seconds
   round-robin over the streams (one transaction each, the payload carries the send time).
5. Half-way, ``--drop`` of the clients lose their connection abruptly (the TCP transport is
   aborted: whatever was in flight is lost), get a new ticket and resume with ``since`` = the
   last event they processed.
6. At the end each client must hold exactly the events the publisher wrote to its stream:
   missing and duplicate counts per client. Latency (publish -> receive) is measured on live
   frames only (resumed frames are old by design).

Exit status: 0 when no client missed or duplicated an event; 1 otherwise; 3 with
``--enforce`` when p95 > 50 ms. Results: ``--json`` (default ``var/bench/fanout-<ts>.json``);
``bench/README.md`` records runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.http_paths import (
    HOST,
    ROOT,
    Server,
    _log,
    check_loopback,
    free_port,
    new_run_secrets,
    prepare_database,
    run_checked,
    server_env,
)

P95_TARGET_MS = 50.0


@dataclass
class Client:
    index: int
    order_id: int
    credential: dict[str, str]
    base: str
    received: list[int] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    resumed_frames: int = 0
    reconnects: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def stream(self) -> str:
        return f"order:{self.order_id}"


async def _ticket(http: Any, client: Client) -> str:
    cred = client.credential
    if cred["kind"] == "bearer":
        headers = {"Authorization": f"Bearer {cred['token']}"}
    else:
        headers = {"X-Anonymous-Id": cred["id"], "X-Anonymous-Signature": cred["signature"]}
    response = await http.post(f"{client.base}/api/auth/ws-token", headers=headers)
    response.raise_for_status()
    return str(response.json()["ticket"])


async def _session(http: Any, client: Client, since: int, stop: asyncio.Event) -> None:
    """One connection: subscribe from ``since``, record events until ``stop`` or a drop."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    ticket = await _ticket(http, client)
    url = client.base.replace("http://", "ws://") + "/ws/realtime/"
    async with connect(
        url,
        origin=f"http://{HOST}:8000",  # type: ignore[arg-type]
        subprotocols=["aventide.v1", f"ticket.{ticket}"],  # type: ignore[list-item]
        open_timeout=20,
        proxy=None,
        max_queue=None,
    ) as ws:
        client.ws = ws  # type: ignore[attr-defined]
        await ws.send(json.dumps({"type": "subscribe", "stream": client.stream, "since": since}))
        resuming = True
        try:
            async for raw in ws:
                now = time.time()
                frame = json.loads(raw)
                kind = frame.get("type")
                if kind == "event":
                    client.received.append(frame["id"])
                    if resuming:
                        client.resumed_frames += 1
                    else:
                        client.latencies_ms.append((now - frame["data"]["t"]) * 1000.0)
                elif kind == "caughtUp":
                    resuming = False
                elif kind == "error":
                    client.errors.append(frame.get("code", "?"))
                if stop.is_set():
                    return
        except ConnectionClosed:
            return


async def run_clients(
    clients: list[Client],
    *,
    since: int,
    drop_at: float | None,
    drop_fraction: float,
    publish_done: asyncio.Event,
    expected_last: dict[str, int],
    drain_seconds: float,
) -> None:
    import httpx

    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(timeout=30, limits=limits, trust_env=False) as http:
        stop = asyncio.Event()

        async def lifecycle(client: Client) -> None:
            cursor = since
            while not stop.is_set():
                try:
                    await _session(http, client, cursor, stop)
                except Exception as exc:  # noqa: BLE001 - recorded; the client reconnects
                    client.errors.append(type(exc).__name__)
                    await asyncio.sleep(0.2)
                if stop.is_set():
                    return
                cursor = client.received[-1] if client.received else since
                client.reconnects += 1

        tasks = [asyncio.create_task(lifecycle(c)) for c in clients]
        connected_at = time.monotonic()
        if drop_at is not None:
            await asyncio.sleep(drop_at)
            victims = clients[:: max(1, round(1 / drop_fraction))] if drop_fraction else []
            _log(f"dropping {len(victims)} connections abruptly (transport abort)")
            for client in victims:
                ws = getattr(client, "ws", None)
                if ws is not None:
                    ws.transport.abort()
        await publish_done.wait()
        deadline = time.monotonic() + drain_seconds
        while time.monotonic() < deadline:
            if all(
                c.received and c.received[-1] >= expected_last.get(c.stream, 0) for c in clients
            ):
                break
            await asyncio.sleep(0.1)
        stop.set()
        for client in clients:
            ws = getattr(client, "ws", None)
            if ws is not None:
                with contextlib.suppress(Exception):
                    await ws.close()
        await asyncio.wait(tasks, timeout=10)
        for task in tasks:
            task.cancel()
        _log(f"clients done after {time.monotonic() - connected_at:.1f}s")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="WebSocket fan-out benchmark (issue 11).")
    parser.add_argument("--orders", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--drop", type=float, default=0.5, help="fraction of clients dropped")
    parser.add_argument("--layer", choices=["pubsub", "core"], default="pubsub")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--reset-db", action="store_true")
    parser.add_argument("--enforce", action="store_true")
    parser.add_argument("--json", default="")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/aventide_bench_rt_ws"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument("--var-dir", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args(argv)
    if args.quick:
        args.orders, args.seconds = 10, 5.0
    args.workers, args.token_ttl = 1, 3600
    args.env = [f"CHANNEL_LAYER_BACKEND={args.layer}", *args.env]
    check_loopback(args.database_url, "--database-url")
    check_loopback(args.redis_url, "--redis-url")
    var = Path(args.var_dir)
    (var / "runtime" / "prometheus").mkdir(parents=True, exist_ok=True)
    for stale in (var / "runtime" / "prometheus").glob("*.db"):
        stale.unlink()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    log = var / f"fanout-{stamp}.log"
    run_secrets = new_run_secrets()
    env = server_env(args, run_secrets)
    env["WS_ALLOWED_ORIGINS"] = f"http://{HOST}:8000"
    load_start = os.getloadavg()

    prepare_database(args)
    run_checked(
        [sys.executable, "manage.py", "migrate", "--noinput"], env=env, log=log, timeout=600
    )
    with tempfile.TemporaryDirectory() as tmp:
        setup_out = Path(tmp) / "setup.json"
        run_checked(
            [
                sys.executable,
                "-m",
                "bench.fanout_app",
                "setup",
                "--orders",
                str(args.orders),
                "--out",
                str(setup_out),
            ],
            env=env,
            log=log,
            timeout=900,
        )
        world = json.loads(setup_out.read_text())
        servers = []
        for index in range(2):
            port = free_port()
            servers.append(
                Server(
                    [
                        sys.executable,
                        "-m",
                        "aventide.server",
                        "--host",
                        HOST,
                        "--port",
                        str(port),
                        "--workers",
                        "1",
                    ],
                    env=env,
                    log=var / f"fanout-{stamp}-server{index}.log",
                    ready_path="/healthz",
                    port=port,
                )
            )
        clients: list[Client] = []
        for order in world["orders"]:
            for cred in order["clients"]:
                index = len(clients)
                clients.append(
                    Client(index, order["id"], cred, servers[index % 2].base_url)  # alternate
                )
        publish_out = Path(tmp) / "publish.json"
        try:
            for server in servers:
                server.start()
            cpu_before = sum(s.cpu_seconds() for s in servers)
            result = asyncio.run(
                _drive(args, env, log, world, clients, publish_out),
            )
            cpu_after = sum(s.cpu_seconds() for s in servers)
        finally:
            for server in servers:
                server.stop()
        published = json.loads(publish_out.read_text())

    expected: dict[str, list[int]] = {}
    for stream, event_id in published["events"]:
        expected.setdefault(stream, []).append(event_id)
    missing = duplicates = 0
    worst: list[dict[str, Any]] = []
    for client in clients:
        want = expected.get(client.stream, [])
        got = client.received
        miss = len(set(want) - set(got))
        dup = len(got) - len(set(got))
        missing += miss
        duplicates += dup
        if miss or dup:
            worst.append(
                {
                    "client": client.index,
                    "stream": client.stream,
                    "missing": miss,
                    "duplicates": dup,
                    "errors": client.errors[:5],
                }
            )
    latencies = [ms for c in clients for ms in c.latencies_ms]
    report = {
        "when": stamp,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_start": load_start,
        "load_end": os.getloadavg(),
        "layer": args.layer,
        "env": args.env,
        "clients": len(clients),
        "orders": args.orders,
        "servers": 2,
        "rate_target": args.rate,
        "seconds": args.seconds,
        "events_published": len(published["events"]),
        "publish_seconds": round(published["seconds"], 2),
        "publisher_late": published["late"],
        "frames_expected": sum(len(expected.get(c.stream, [])) for c in clients),
        "frames_received": sum(len(c.received) for c in clients),
        "live_frames": len(latencies),
        "resumed_frames": sum(c.resumed_frames for c in clients),
        "dropped_clients": sum(1 for c in clients if c.reconnects),
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "p99": round(percentile(latencies, 99), 1),
            "max": round(max(latencies), 1) if latencies else None,
            "mean": round(statistics.fmean(latencies), 1) if latencies else None,
        },
        "missing": missing,
        "duplicates": duplicates,
        "clients_with_errors": sum(1 for c in clients if c.errors),
        "server_cpu_seconds": round(cpu_after - cpu_before, 1),
        "problems": worst[:20],
    }
    report.update(result)
    out = Path(args.json) if args.json else var / f"fanout-{stamp}.json"
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "problems"}, indent=2))
    _log(f"results: {out}; log: {log}")
    if missing or duplicates:
        return 1
    if args.enforce and not report["latency_ms"]["p95"] <= P95_TARGET_MS:
        return 3
    return 0


async def _drive(
    args: argparse.Namespace,
    env: dict[str, str],
    log: Path,
    world: dict[str, Any],
    clients: list[Client],
    publish_out: Path,
) -> dict[str, Any]:
    publish_done = asyncio.Event()
    expected_last: dict[str, int] = {}
    order_ids = ",".join(str(o["id"]) for o in world["orders"])

    async def publisher() -> None:
        await asyncio.sleep(3.0)  # every client connected and subscribed
        with log.open("a") as fh:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bench.fanout_app",
                "publish",
                "--orders",
                order_ids,
                "--rate",
                str(args.rate),
                "--seconds",
                str(args.seconds),
                "--out",
                str(publish_out),
                cwd=ROOT,
                env=env,
                stdout=fh,
                stderr=fh,
            )
            try:
                await asyncio.wait_for(proc.wait(), timeout=args.seconds * 3 + 60)
            finally:
                if proc.returncode is None:
                    proc.kill()
        for stream, event_id in json.loads(publish_out.read_text())["events"]:
            expected_last[stream] = max(expected_last.get(stream, 0), event_id)
        publish_done.set()

    pub = asyncio.create_task(publisher())
    await run_clients(
        clients,
        since=int(world["cursor"]),
        drop_at=3.0 + args.seconds / 2 if args.drop else None,
        drop_fraction=args.drop,
        publish_done=publish_done,
        expected_last=expected_last,
        drain_seconds=20.0,
    )
    await pub
    return {}


if __name__ == "__main__":
    raise SystemExit(main())
