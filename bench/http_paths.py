"""HTTP paths benchmark: today's endpoints at production settings, with same-run ceilings.

    python -m bench.http_paths                 # the full benchmark (make bench)
    python -m bench.http_paths --quick         # a smoke check: fewer requests, 1 run
    python -m bench.http_paths --endpoints me,cancel --concurrency 16 --profile cancel

What it does, all on 127.0.0.1 and bounded (fixed request counts, per-request and per-point
timeouts, every process it starts killed at the end, also on Ctrl-C or failure):

1. Prepares the bench database (created if missing; ``--reset-db`` drops it first), migrates
   it, and seeds it through ``bench/setup_data.py`` -- the only bench module that imports the
   application -- run as a subprocess with the server's environment.
2. Starts the server as an operator would: ``python -m aventide.server`` (uvicorn) with
   ``AVENTIDE_ENV=production``, DEBUG off, PostgreSQL + Redis, generated secrets, and
   ``WEB_CONCURRENCY`` workers (``--workers``), on a free port.
3. For each endpoint and each concurrency (1 and 16 clients by default): ``--runs`` runs of
   ``--requests`` requests (after ``--warmup`` unmeasured ones) from a bounded async httpx
   client in this process, one HTTP/1.1 keep-alive connection per simulated client. Per run:
   req/s, p50/p95/p99 latency, non-2xx count, server CPU seconds per request (psutil over the
   server's process tree) and the peak number of PostgreSQL connections to the bench database
   (pg_stat_activity polled every 20 ms). A point reports the median of its runs.
4. The ceilings of the same run: a bare Django ASGI view (``bench/bare``, same uvicorn
   options, async and sync variants) and raw psycopg 3 commits (3 INSERTs + COMMIT per
   transaction, 8 connections in threads).
5. Prints the table and the floors of issue 9 and writes every figure to ``--json``.

Exit status: 0 when every request answered 2xx; 1 when any did not (the first error bodies are
printed), a run was aborted by ``--pg-guard``, ``--max-pg-connections`` was exceeded or the
harness failed; 3 when ``--enforce-floors`` is given and a floor is missed.
See bench/README.md for what each figure means and the recorded results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.report import (
    APP_ENDPOINTS,
    BARE_ENDPOINTS,
    ENDPOINTS,
    SELECTABLE,
    ErrorSample,
    RunResult,
    aggregate,
    floors,
    median_of,
    percentile,
    render_errors,
    render_floors,
    render_profile,
    render_psycopg,
    render_server_errors,
    render_table,
    server_errors,
    top_frames,
)
from tools import interpreter

ROOT = Path(__file__).resolve().parent.parent
MAX_ERROR_SAMPLES = 5
HOST = "127.0.0.1"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/aventide_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"

# --- environment and processes ----------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def check_loopback(url: str, what: str) -> None:
    host = urlsplit(url).hostname
    if host not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit(f"{what} must point at 127.0.0.1 (got host {host!r})")


def server_env(args: argparse.Namespace, run_secrets: dict[str, str]) -> dict[str, str]:
    """The production environment of the server and of the setup subprocesses."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    runtime = Path(args.var_dir) / "runtime"
    env.update(
        AVENTIDE_ENV="production",
        DEBUG="false",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        ALLOWED_HOSTS=HOST,
        ENABLE_PUSH_NOTIFICATIONS="false",
        WEB_CONCURRENCY=str(args.workers),
        AVENTIDE_VAR_DIR=str(runtime),
        # Tokens are minted once in setup and must outlive the whole run.
        JWT_ACCESS_TTL_SECONDS=str(args.token_ttl),
        # The API throttles stay on (their Redis round trip is part of every request's cost),
        # at a rate a load test never reaches: 16 clients of one user would exceed 600/min.
        THROTTLE_USER="100000000/min",
        THROTTLE_ANON="100000000/min",
        # The chat's limits stay on too (their cache round trips are part of every send), at
        # rates the bench's 16 clients on a handful of conversations never reach.
        MESSAGING_RATE_PER_CONVERSATION="100000000",
        MESSAGING_RATE_PER_SENDER="100000000",
        # A namespace per bench run: nothing cached by an earlier run is ever read.
        CACHE_KEY_PREFIX=f"aventide:bench:{run_secrets['run_id']}",
        CHANNEL_LAYER_PREFIX=f"aventide:bench:{run_secrets['run_id']}:ch",
        PROMETHEUS_MULTIPROC_DIR=str(runtime / "prometheus"),
        SECRET_KEY=run_secrets["SECRET_KEY"],
        JWT_SECRET=run_secrets["JWT_SECRET"],
        ANON_SECRET=run_secrets["ANON_SECRET"],
        WEBHOOK_SECRET_PAYMENTS=run_secrets["ANON_SECRET"] + "-payments",
        WEBHOOK_SECRET_COURIER=run_secrets["ANON_SECRET"] + "-courier",
    )
    for key in ("JWT_SIGNING_KEYS", "ANON_SIGNING_KEYS", "CELERY_BROKER_URL"):
        env.pop(key, None)
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    return env


def recorded_settings(env: dict[str, str], args: argparse.Namespace) -> dict[str, str]:
    """Non-secret knobs worth recording with the figures (no secrets, no URLs with users)."""
    keep = {
        "AVENTIDE_ENV",
        "DEBUG",
        "WEB_CONCURRENCY",
        "LOG_LEVEL",
        "JWT_ACCESS_TTL_SECONDS",
        "THROTTLE_USER",
        "THROTTLE_ANON",
        "MESSAGING_RATE_PER_CONVERSATION",
        "MESSAGING_RATE_PER_SENDER",
    }
    out = {k: v for k, v in sorted(env.items()) if k in keep or k.startswith("DB_")}
    out.update({k.partition("=")[0]: k.partition("=")[2] for k in args.env})
    out["database"] = database_name(args.database_url)
    out["redis_db"] = urlsplit(args.redis_url).path.lstrip("/") or "0"
    return out


def new_run_secrets() -> dict[str, str]:
    return {
        "run_id": secrets.token_hex(6),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SECRET": secrets.token_urlsafe(48),
        "ANON_SECRET": secrets.token_urlsafe(48),
    }


def _log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_checked(cmd: list[str], *, env: dict[str, str], log: Path, timeout: float) -> None:
    """Run a bounded subprocess; on failure show the tail of its output and stop."""
    with log.open("a") as fh:
        fh.write(f"$ {' '.join(cmd)}\n")
        fh.flush()
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise SystemExit(f"timed out after {timeout:.0f}s: {' '.join(cmd)}") from None
    if proc.returncode != 0:
        raise SystemExit(
            f"failed ({proc.returncode}): {' '.join(cmd)}\n--- {log} (tail) ---\n{_tail(log)}"
        )


def prepare_database(args: argparse.Namespace) -> None:
    import psycopg
    from psycopg import sql

    name = database_name(args.database_url)
    admin = urlsplit(args.database_url)._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and args.reset_db:
            if "bench" not in name:
                raise SystemExit(
                    f"--reset-db refuses a database without 'bench' in its name: {name}"
                )
            _log(f"dropping database {name} (--reset-db)")
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))
            exists = None
        if not exists:
            _log(f"creating database {name}")
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def run_setup(
    command: list[str], *, env: dict[str, str], log: Path, timeout: float
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        out = Path(tmp.name)
    try:
        run_checked(
            [sys.executable, "-m", "bench.setup_data", *command, "--out", str(out)],
            env=env,
            log=log,
            timeout=timeout,
        )
        data: dict[str, Any] = json.loads(out.read_text())
        return data
    finally:
        out.unlink(missing_ok=True)


def make_paid_orders(
    count: int, *, pairs: int, procs: int, env: dict[str, str], log: Path, timeout: float
) -> list[tuple[int, int]]:
    """``count`` paid orders made by ``procs`` setup processes in parallel."""
    if count <= 0:
        return []
    procs = max(1, min(procs, count))
    shares = [count // procs + (1 if i < count % procs else 0) for i in range(procs)]
    outs = [Path(tempfile.mkstemp(suffix=".json")[1]) for _ in shares]
    running: list[subprocess.Popen[bytes]] = []
    try:
        with log.open("a") as fh:
            for share, out in zip(shares, outs, strict=True):
                cmd = [sys.executable, "-m", "bench.setup_data", "paid-orders", "--pairs",
                       str(pairs), "--count", str(share), "--out", str(out)]  # fmt: skip
                running.append(
                    subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
                )
            deadline = time.monotonic() + timeout
            for proc in running:
                rc = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
                if rc != 0:
                    raise SystemExit(f"paid-orders setup failed ({rc})\n{_tail(log)}")
        orders: list[tuple[int, int]] = []
        for out in outs:
            orders.extend((int(o), int(p)) for o, p in json.loads(out.read_text())["orders"])
        return orders
    except subprocess.TimeoutExpired:
        raise SystemExit(f"paid-orders setup timed out after {timeout:.0f}s") from None
    finally:
        for proc in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for out in outs:
            out.unlink(missing_ok=True)


class Server:
    """A server subprocess in its own process group; ``stop()`` ends the whole group."""

    def __init__(
        self, cmd: list[str], *, env: dict[str, str], log: Path, ready_path: str, port: int
    ) -> None:
        self.cmd = cmd
        self.env = env
        self.log = log
        self.ready_path = ready_path
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 90.0) -> None:
        import httpx

        with self.log.open("a") as fh:
            self.proc = subprocess.Popen(
                self.cmd,
                cwd=ROOT,
                env=self.env,
                stdout=fh,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() reaches the workers
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(
                    f"server exited with {self.proc.returncode} during start\n"
                    f"--- {self.log} (tail) ---\n{_tail(self.log)}"
                )
            try:
                if httpx.get(self.base_url + self.ready_path, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise SystemExit(f"server not ready after {timeout:.0f}s\n{_tail(self.log)}")

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the server process and its live descendants."""
        import psutil

        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def stop(self, grace: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        # Workers that outlived their master (they share its group) go too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


@contextlib.contextmanager
def serving(server: Server) -> Iterator[Server]:
    try:
        server.start()
        yield server
    finally:
        server.stop()


class PgConnPoller:
    """Polls the number of connections to one database (its own excluded) in a thread."""

    def __init__(
        self, database_url: str, *, guard: int | None = None, interval: float = 0.02
    ) -> None:
        self.guard = guard  # client connections, server-wide, at which the load must stop
        self.tripped: str | None = None
        self.server_total = 0
        self.url = urlsplit(database_url)._replace(path="/postgres").geturl()
        self.database = database_name(database_url)
        self.interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._peak = 0
        self._last = 0
        self._thread: threading.Thread | None = None
        self.error: str | None = None

    def __enter__(self) -> PgConnPoller:
        import psycopg

        self._conn = psycopg.connect(self.url, autocommit=True, connect_timeout=5)
        self._last = self._peak = self._count()
        self._thread = threading.Thread(target=self._run, name="pg-conn-poller", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self._conn.close()

    def _count(self) -> int:
        """Connections to the bench database; also keeps the server-wide client count."""
        row = self._conn.execute(
            "SELECT count(*) FILTER (WHERE datname = %s), count(*) FILTER (WHERE backend_type = "
            "'client backend') FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
            [self.database],
        ).fetchone()
        if not row:
            return 0
        self.server_total = int(row[1])
        return int(row[0])

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                n = self._count()
            except Exception as exc:  # noqa: BLE001  # report, never kill the run
                self.error = f"{type(exc).__name__}: {exc}"
                return
            with self._lock:
                self._last = n
                self._peak = max(self._peak, n)
            total = self.server_total
            if self.guard and total >= self.guard and not self.tripped:
                self.tripped = (
                    f"PostgreSQL had {total} client connections ({n} of them to "
                    f"{self.database}), the guard is {self.guard} (--pg-guard): the load "
                    "stopped before the server runs out of connections"
                )

    def should_stop(self) -> str | None:
        return self.tripped

    def reset(self) -> None:
        with self._lock:
            self._peak = self._last

    @property
    def peak(self) -> int:
        with self._lock:
            return self._peak

    @property
    def current(self) -> int:
        with self._lock:
            return self._last


# --- load client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Req:
    method: str
    path: str
    token: str | None = None
    body: dict[str, Any] | None = None


class Timer:
    """Brackets the measured phase of a run: server CPU, client CPU, PostgreSQL peak."""

    def __init__(self, server: Server | None, poller: PgConnPoller | None) -> None:
        import psutil

        self.server = server
        self.poller = poller
        self.me = psutil.Process()
        self.server_cpu: float | None = None
        self.client_cpu: float | None = None

    def start(self) -> None:
        if self.poller:
            self.poller.reset()
        if self.server:
            self.server_cpu = self.server.cpu_seconds()
        t = self.me.cpu_times()
        self.client_cpu = t.user + t.system

    def stop(self, run: RunResult) -> None:
        t = self.me.cpu_times()
        if self.client_cpu is not None:
            run.client_cpu_s = t.user + t.system - self.client_cpu
        if self.server and self.server_cpu is not None:
            run.server_cpu_s = self.server.cpu_seconds() - self.server_cpu
        if self.poller:
            run.pg_peak = self.poller.peak


@dataclass
class Phase:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    samples: list[ErrorSample] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0
    aborted: str | None = None


async def _phase(
    clients: Sequence[Any],
    reqs: Sequence[Req],
    run_tag: str,
    should_stop: Callable[[], str | None],
) -> Phase:
    """Send ``reqs`` through ``clients``, each client one request at a time.

    ``should_stop`` is asked before every request; when it returns a reason the clients stop
    sending and the phase reports it as ``aborted``.
    """
    import httpx

    out = Phase()
    n = len(reqs)
    cursor = itertools.count()

    async def worker(client: httpx.AsyncClient) -> None:
        while (i := next(cursor)) < n:
            if out.aborted or (reason := should_stop()):
                out.aborted = out.aborted or reason
                return
            req = reqs[i]
            request_id = f"bench-{run_tag}-{i}"
            headers = {"X-Request-ID": request_id}
            if req.token:
                headers["Authorization"] = f"Bearer {req.token}"
            started = time.perf_counter()
            try:
                response = await client.request(
                    req.method, req.path, headers=headers, json=req.body
                )
                status, body = response.status_code, response.text
            except httpx.HTTPError as exc:
                status, body = 0, f"{type(exc).__name__}: {exc}"
            out.latencies_ms.append((time.perf_counter() - started) * 1000)
            out.statuses[str(status)] += 1
            if not 200 <= status < 300:
                out.errors += 1
                if len(out.samples) < MAX_ERROR_SAMPLES:
                    out.samples.append(ErrorSample(status, req.method, req.path, request_id, body))

    started = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in clients))
    out.elapsed_s = time.perf_counter() - started
    return out


async def run_load(
    base_url: str,
    warmup: Sequence[Req],
    measured: Sequence[Req],
    *,
    concurrency: int,
    request_timeout: float,
    point_timeout: float,
    timer: Timer,
    run_tag: str,
    should_stop: Callable[[], str | None] = lambda: None,
) -> RunResult:
    """Warm up, then measure, with ``concurrency`` clients of one keep-alive connection each.

    Warm-up answers are not timed, but a non-2xx among them counts as an error of the run.
    """
    import httpx

    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    timeout = httpx.Timeout(request_timeout)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout, http2=False)
            )
            for _ in range(concurrency)
        ]
        try:
            async with asyncio.timeout(point_timeout):
                warm = Phase()
                if warmup:
                    warm = await _phase(clients, warmup, f"{run_tag}-w", should_stop)
                timer.start()
                if warm.aborted:
                    main = Phase(aborted=warm.aborted)
                else:
                    main = await _phase(clients, measured, run_tag, should_stop)
        except TimeoutError:
            raise SystemExit(
                f"{run_tag}: no result within --point-timeout {point_timeout:.0f}s"
            ) from None
    run = RunResult(
        requests=len(main.latencies_ms),
        elapsed_s=main.elapsed_s,
        latencies_ms=main.latencies_ms,
        errors=main.errors,
        warmup_errors=warm.errors,
        status_counts=dict(main.statuses),
        error_samples=(warm.samples + main.samples)[:MAX_ERROR_SAMPLES],
        aborted=main.aborted,
    )
    timer.stop(run)
    return run


# --- load client: wrk (--generator wrk) ----------------------------------------------------

WRK_SCRIPT = Path(__file__).resolve().parent / "wrk_plan.lua"


def _plan_line(req: Req, request_id: str) -> str:
    body = json.dumps(req.body, separators=(",", ":")) if req.body is not None else "-"
    fields = [req.method, req.path, req.token or "-", request_id, body]
    if any("\t" in f or "\n" in f for f in fields):
        raise SystemExit("a planned request holds a tab or a newline")
    return "\t".join(fields)


def _wrk_phase(
    base_url: str,
    reqs: Sequence[Req],
    tail: Sequence[Req],
    run_tag: str,
    *,
    concurrency: int,
    point_timeout: float,
    workdir: Path,
) -> tuple[Phase, float]:
    """One wrk run of ``reqs`` (measured) then ``tail`` (sent, never measured). Returns the
    phase and wrk's CPU seconds (its rusage as a finished child)."""
    plan = workdir / f"{run_tag}.plan"
    out = workdir / f"{run_tag}.out"
    plan.write_text(
        "\n".join(_plan_line(r, f"bench-{run_tag}-{i}") for i, r in enumerate([*reqs, *tail]))
        + "\n"
    )
    out.unlink(missing_ok=True)
    cmd = [
        shutil.which("wrk") or "wrk",
        "-t1",
        f"-c{concurrency}",
        f"-d{max(1, int(point_timeout))}s",
        "--timeout",
        "30s",
        "-s",
        str(WRK_SCRIPT),
        base_url,
        "--",
        str(plan),
        str(out),
        str(len(reqs)),
    ]
    before = _children_cpu()
    log = workdir / f"{run_tag}.log"
    with log.open("w") as log_file:
        proc = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, text=True)
        try:
            # wrk runs to its -d duration; the script writes OUT at the last planned answer.
            deadline = time.monotonic() + point_timeout + 30
            while proc.poll() is None and not out.exists():
                if time.monotonic() > deadline:
                    break
                time.sleep(0.02)
            if proc.poll() is None:
                # SIGTERM ends wrk at once (its SIGINT handler only sets a flag, and when the
                # signal lands on the load thread, wrk sleeps to its -d duration). Its
                # report is not needed: OUT holds the results.
                proc.terminate()
            returncode = proc.wait(timeout=30)
            if returncode == -signal.SIGTERM and out.exists():
                returncode = 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    wrk_cpu = _children_cpu() - before
    stdout = log.read_text()
    if returncode != 0 or not out.exists():
        raise SystemExit(f"{run_tag}: wrk failed ({returncode}): {stdout}")
    phase = Phase()
    answered: set[int] = set()
    for line in out.read_text().splitlines():
        if line.startswith("complete "):
            continue  # an incomplete run shows as unanswered requests below
        if line.startswith("elapsed_us "):
            phase.elapsed_s = float(line.split()[1]) / 1e6
        elif line.startswith("sample "):
            _, idx, status, *body = line.split(" ", 3)
            req = reqs[int(idx) - 1]
            request_id = f"bench-{run_tag}-{int(idx) - 1}"
            phase.samples.append(
                ErrorSample(int(status), req.method, req.path, request_id, "".join(body))
            )
        elif line:
            idx, status, latency_us = line.split()
            answered.add(int(idx))
            phase.latencies_ms.append(float(latency_us) / 1000)
            phase.statuses[status] += 1
            if not 200 <= int(status) < 300:
                phase.errors += 1
    missing = len(reqs) - len(answered)
    if missing:  # no answer within the run's time: transport errors (timeouts, resets)
        phase.errors += missing
        phase.statuses["0"] += missing
        phase.samples.append(
            ErrorSample(0, reqs[0].method, reqs[0].path, f"bench-{run_tag}-*", stdout[-500:])
        )
    return phase, wrk_cpu


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_load_wrk(
    base_url: str,
    warmup: Sequence[Req],
    measured: Sequence[Req],
    tail: tuple[Sequence[Req], Sequence[Req]],
    *,
    concurrency: int,
    point_timeout: float,
    timer: Timer,
    run_tag: str,
) -> RunResult:
    """``run_load`` with wrk (C, one thread, epoll) as the load generator: the same closed
    loop of ``concurrency`` keep-alive connections, the same plans and request ids. Each
    phase (warm-up, measured) is one wrk run that sends its plan plus a tail of one request
    per client (``tail``) and stops at the last planned answer, so the clients stay busy to
    the end. Client CPU = wrk's CPU + this process's during the measured phase (the poller).
    The server finishes the in-flight tail after the stop; the next phase waits 0.3 s."""
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        workdir = Path(tmp)
        warm = Phase()
        if warmup:
            warm, _ = _wrk_phase(
                base_url,
                warmup,
                tail[0],
                f"{run_tag}-w",
                concurrency=concurrency,
                point_timeout=point_timeout,
                workdir=workdir,
            )
            time.sleep(0.3)
        timer.start()
        main, wrk_cpu = _wrk_phase(
            base_url,
            measured,
            tail[1],
            run_tag,
            concurrency=concurrency,
            point_timeout=point_timeout,
            workdir=workdir,
        )
    run = RunResult(
        requests=len(main.latencies_ms),
        elapsed_s=main.elapsed_s,
        latencies_ms=main.latencies_ms,
        errors=main.errors,
        warmup_errors=warm.errors,
        status_counts=dict(main.statuses),
        error_samples=(warm.samples + main.samples)[:MAX_ERROR_SAMPLES],
    )
    timer.stop(run)
    if run.client_cpu_s is not None:
        run.client_cpu_s += wrk_cpu
    time.sleep(0.3)
    return run


# --- the endpoints' request plans ----------------------------------------------------------


class Plans:
    """Builds each run's requests from the seeded data; paid orders are used once each."""

    def __init__(self, seed: dict[str, Any], paid: list[tuple[int, int]]) -> None:
        self.pairs = seed.get("pairs", [])
        self.reader_token = seed.get("reader_token")
        self.paid = paid
        self._next_paid = 0
        self._serial = itertools.count()
        self._run_tag = secrets.token_hex(4)

    def build(self, endpoint: str, count: int) -> list[Req]:
        return [self._one(endpoint, i) for i in range(count)]

    def _one(self, endpoint: str, i: int) -> Req:
        _, method, path = ENDPOINTS[endpoint]
        if endpoint in BARE_ENDPOINTS:
            return Req(method, path)
        pair = self.pairs[i % len(self.pairs)]
        if endpoint in ("me", "me-async"):
            return Req(method, path, pair["buyer_token"])
        if endpoint in ("orders", "orders-async"):
            return Req(method, path, self.reader_token)
        if endpoint == "create":
            n = next(self._serial)
            body = {"listingId": pair["listing_id"], "recipient": {"name": f"Bench {n}"}}
            return Req(method, path, pair["buyer_token"], body)
        if endpoint == "cancel":
            if self._next_paid >= len(self.paid):
                raise SystemExit("ran out of paid orders: the harness miscounted")
            order_id, pair_index = self.paid[self._next_paid]
            owner = self.pairs[pair_index]
            # Alternate the canceller between the order's seller and its buyer.
            token = owner["seller_token"] if self._next_paid % 2 == 0 else owner["buyer_token"]
            self._next_paid += 1
            return Req(method, path.format(id=order_id), token, {"reason": "bench"})
        if endpoint == "send":
            # The buyer of each pair writes to the pair's (active) order chat; every send has
            # its own clientMessageId and a different everyday body (moderation allows it; a
            # repeated body would count as spam, as it should).
            n = next(self._serial)
            conversation = pair.get("conversation_id")
            if not conversation:
                raise SystemExit("the seed has no conversations: rerun with a current setup")
            body = {"clientMessageId": f"bench-{self._run_tag}-{n}", "body": chat_line(n)}
            return Req(method, path.format(id=conversation), pair["buyer_token"], body)
        raise SystemExit(f"unknown endpoint {endpoint!r}")


_CHAT_OPENERS = ("Hola", "Buenas", "Perdón", "Una consulta", "Che", "Disculpá", "Oi", "Hi")
_CHAT_ASKS = (
    "¿llega hoy a la tarde?",
    "¿el timbre anda?",
    "¿lo dejan en portería?",
    "¿viene con tarjeta de regalo?",
    "¿puede ir envuelto?",
    "¿el repartidor avisa antes?",
    "¿se puede cambiar el color?",
    "¿hay demora por la lluvia?",
    "¿lo reciben los fines de semana?",
    "¿hace falta firmar algo?",
    "¿traen la caja cerrada?",
    "¿el moño es rojo o dorado?",
    "¿llega antes del cumpleaños?",
    "¿pueden tocar despacio que hay un bebé?",
    "¿el paquete es pesado?",
    "¿lo pueden dejar con el vecino?",
)
_CHAT_MIDDLES = (
    "es una sorpresa",
    "ella no sabe nada",
    "estoy en el trabajo",
    "vuelvo a la noche",
    "el perro ladra pero no muerde",
    "la puerta es la verde",
    "hay portero eléctrico",
    "es el departamento del fondo",
    "mi hermana abre",
    "no anda el ascensor",
    "es un regalo de aniversario",
    "lo esperamos con ansias",
    "avisen si se complica",
    "muchas gracias por todo",
    "disculpen la molestia",
    "sin apuro igual",
)
_CHAT_TAILS = (
    "gracias", "mil gracias", "saludos", "abrazo", "dale", "genial", "perfecto", "ok",
    "un beso", "buen día", "buenas tardes", "quedo atenta", "quedo atento", "éxitos",
    "todo bien", "nos vemos",
)  # fmt: skip


def chat_line(n: int) -> str:
    """An everyday chat line: 32,768 distinct ones (distinct moderation fingerprints), in an
    order that does not follow ``n`` modulo the number of pairs, so no conversation sees the
    same body again within a run (repeating one would count as spam, as it should)."""
    k = (n * 2_654_435_761) % 32_768
    return (
        f"{_CHAT_OPENERS[k % 8]}, {_CHAT_ASKS[(k // 8) % 16]} "
        f"{_CHAT_MIDDLES[(k // 128) % 16]}, {_CHAT_TAILS[(k // 2048) % 16]}"
    )


#: The product's endpoints (the -async ones exist only in bench/variants, the experiment of
#: docs/decisions/0012-request-path-cpu.md).
CLASSIC_ENDPOINTS = ("me", "orders", "create", "cancel", "send")
#: ``make bench`` (issue 9); the chat's ``send`` has its own entry point, bench/send_message.py
DEFAULT_SELECTION = ("me", "orders", "create", "cancel", "bare", "psycopg")


# --- raw psycopg ceiling ---------------------------------------------------------------------

CEILING_TABLE = "bench_commit_ceiling"


def psycopg_ceiling(
    database_url: str, *, connections: int, transactions: int, runs: int
) -> dict[str, Any]:
    """Commits/s of 3 INSERTs + COMMIT per transaction over ``connections`` threads."""
    import psycopg

    with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {CEILING_TABLE} (id bigserial PRIMARY KEY, "
            "k integer NOT NULL, v text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
        )
    results = []
    try:
        for _ in range(runs):
            with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f"TRUNCATE {CEILING_TABLE}")
            results.append(_psycopg_run(database_url, connections, transactions))
    finally:
        with psycopg.connect(database_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {CEILING_TABLE}")
    return {
        "connections": connections,
        "transactions": transactions,
        "runs": results,
        "commits_per_s": median_of([r["commits_per_s"] for r in results]),
        "p50_ms": median_of([r["p50_ms"] for r in results]),
        "p95_ms": median_of([r["p95_ms"] for r in results]),
    }


def _psycopg_run(database_url: str, connections: int, transactions: int) -> dict[str, Any]:
    import psycopg

    shares = [transactions // connections + (1 if i < transactions % connections else 0)
              for i in range(connections)]  # fmt: skip
    conns = [psycopg.connect(database_url, connect_timeout=5) for _ in shares]
    latencies: list[list[float]] = [[] for _ in shares]
    barrier = threading.Barrier(len(shares) + 1)
    failures: list[str] = []

    def work(idx: int) -> None:
        conn, out = conns[idx], latencies[idx]
        insert = f"INSERT INTO {CEILING_TABLE} (k, v) VALUES (%s, %s)"  # noqa: S608  # constant
        barrier.wait(timeout=30)
        try:
            for n in range(shares[idx]):
                started = time.perf_counter()
                with conn.cursor() as cur:
                    for j in range(3):
                        cur.execute(insert, (n, f"bench-{idx}-{n}-{j}"))
                conn.commit()
                out.append((time.perf_counter() - started) * 1000)
        except Exception as exc:  # noqa: BLE001  # reported below
            failures.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(shares))]
    try:
        for t in threads:
            t.start()
        barrier.wait(timeout=30)
        started = time.perf_counter()
        for t in threads:
            t.join(timeout=600)
        elapsed = time.perf_counter() - started
    finally:
        for c in conns:
            c.close()
    if failures or any(t.is_alive() for t in threads):
        raise SystemExit(f"psycopg ceiling failed: {failures[:3] or 'timed out'}")
    flat = [v for per in latencies for v in per]
    return {
        "commits_per_s": round(len(flat) / elapsed, 1),
        "p50_ms": round(percentile(flat, 50), 3),
        "p95_ms": round(percentile(flat, 95), 3),
    }


# --- profiling ---------------------------------------------------------------------------


class Profiler:
    """``py-spy record`` of the server process tree, written as a speedscope file."""

    def __init__(self, pid: int, out: Path, *, subprocesses: bool, wall: bool = False) -> None:
        self.wall = wall
        self.pid = pid
        self.out = out
        self.subprocesses = subprocesses
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = out.with_suffix(".log")

    def __enter__(self) -> Profiler:
        exe = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which(
            "py-spy"
        )
        if exe is None:
            raise SystemExit("--profile needs py-spy (pip install -r requirements-dev.txt)")
        cmd = [exe, "record", "--pid", str(self.pid), "--rate", "100", "--format", "speedscope",
               "--output", str(self.out), "--nonblocking"]  # fmt: skip
        if self.subprocesses:
            cmd.append("--subprocesses")
        # CPU by default: only the thread holding the GIL (threads waiting on PostgreSQL,
        # on a lock or in epoll do not count). --profile-wall: every thread, idle ones too.
        cmd.append("--idle" if self.wall else "--gil")
        with self.log.open("w") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT)
        time.sleep(1.0)  # attach before the load starts
        if self.proc.poll() is not None:
            raise SystemExit(f"py-spy could not attach:\n{_tail(self.log)}")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGINT)  # py-spy writes its output on SIGINT
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# --- machine ------------------------------------------------------------------------------


def machine_info(database_url: str, redis_url: str) -> dict[str, Any]:
    import psutil

    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        # the build matters as much as the release: a plain source build spends about a
        # fifth more CPU per request than a PGO + LTO one (decision 0024)
        "interpreter": interpreter.build_info(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
    with contextlib.suppress(Exception):
        import psycopg

        admin = urlsplit(database_url)._replace(path="/postgres").geturl()
        with psycopg.connect(admin, connect_timeout=5) as conn:
            for setting, key in (("server_version", "postgresql"), ("max_connections", "pg_max")):
                row = conn.execute(f"SHOW {setting}").fetchone()
                info[key] = row[0] if row else None
    with contextlib.suppress(Exception):
        import redis

        client = redis.Redis.from_url(redis_url, socket_timeout=5)
        server_info: dict[str, Any] = client.info("server")  # type: ignore[assignment]  # sync client
        info["redis"] = server_info.get("redis_version")
        client.close()
    return info


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "?"


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


# --- orchestration -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http_paths",
        description="Load benchmark of the HTTP paths, production settings (bench/README.md).",
    )
    parser.add_argument(
        "--endpoints",
        default=",".join(DEFAULT_SELECTION),
        help=f"comma list of {', '.join(SELECTABLE)} (default: {','.join(DEFAULT_SELECTION)}; "
        "the -async ones need --env DJANGO_SETTINGS_MODULE=bench.variants.settings)",
    )
    parser.add_argument("--concurrency", default="1,16", help="clients per point (default 1,16)")
    parser.add_argument(
        "--requests",
        type=int,
        default=None,
        help="measured requests per run (default 2000; --quick 200)",
    )
    parser.add_argument("--runs", type=int, default=None, help="runs per point (default 3)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="unmeasured requests before each run (default 50)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke check: 200 requests, 1 run, 10 warm-up (unless given)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server worker processes, passed as WEB_CONCURRENCY (default 1)",
    )
    parser.add_argument(
        "--generator",
        choices=("httpx", "wrk"),
        default="httpx",
        help="load generator: httpx (Python, in this process; the default) or wrk (C, a "
        "subprocess: less CPU taken from the server on the same cores); bench/README.md",
    )
    parser.add_argument("--no-ceilings", action="store_true", help="skip bare and psycopg")
    parser.add_argument("--psycopg-connections", type=int, default=8)
    parser.add_argument(
        "--psycopg-transactions",
        type=int,
        default=None,
        help="transactions per ceiling run (default 4000; --quick 800)",
    )
    parser.add_argument(
        "--profile",
        metavar="ENDPOINT",
        default=None,
        help="py-spy the server during one extra run of ENDPOINT at the "
        "highest concurrency; writes var/bench/profile-*.speedscope.json",
    )
    parser.add_argument(
        "--profile-wall",
        action="store_true",
        help="profile every thread's wall time (py-spy --idle) instead of CPU (--gil)",
    )
    parser.add_argument(
        "--pg-guard",
        type=int,
        default=None,
        help="stop the load when PostgreSQL has this many client connections, all databases "
        "(default: 80%% of max_connections; 0 disables), so a leak never exhausts a shared server",
    )
    parser.add_argument(
        "--json",
        dest="json_path",
        default=None,
        help="where to write all figures (default var/bench/http_paths-<time>.json)",
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument(
        "--reset-db",
        action="store_true",
        help="drop and recreate the bench database first (recorded results)",
    )
    parser.add_argument(
        "--no-collectstatic",
        action="store_true",
        help="skip collectstatic (static files are not on the measured paths)",
    )
    parser.add_argument(
        "--setup-procs", type=int, default=2, help="processes making the paid orders (default 2)"
    )
    parser.add_argument(
        "--reader-orders",
        type=int,
        default=10,
        help="orders of the GET /api/orders caller (default 10, half paid)",
    )
    parser.add_argument("--request-timeout", type=float, default=30.0)
    parser.add_argument(
        "--point-timeout",
        type=float,
        default=900.0,
        help="seconds one run (warm-up + measured) may take",
    )
    parser.add_argument(
        "--token-ttl",
        type=int,
        default=6 * 3600,
        help="JWT_ACCESS_TTL_SECONDS for the run (tokens are minted once)",
    )
    parser.add_argument(
        "--max-pg-connections",
        type=int,
        default=None,
        help="fail when the app points' peak PostgreSQL connections exceed this",
    )
    parser.add_argument(
        "--enforce-floors", action="store_true", help="exit 3 when a floor of issue 9 is missed"
    )
    parser.add_argument(
        "--fail-fast", action="store_true", help="stop at the first run with a non-2xx answer"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra server environment, e.g. --env DB_CONN_MAX_AGE=0",
    )
    parser.add_argument("--var-dir", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args(argv)

    args.requests = args.requests or (200 if args.quick else 2000)
    args.runs = args.runs or (1 if args.quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (10 if args.quick else 50)
    if args.generator == "wrk" and shutil.which("wrk") is None:
        parser.error("--generator wrk needs wrk on the PATH (apt-get install -y wrk)")
    args.psycopg_transactions = args.psycopg_transactions or (800 if args.quick else 4000)
    selected = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    unknown = sorted(set(selected) - set(SELECTABLE))
    if unknown:
        parser.error(f"unknown endpoints {unknown}; choose from {', '.join(SELECTABLE)}")
    if args.no_ceilings:
        selected = [e for e in selected if e not in {"bare", "psycopg"}]
    args.selected = selected
    try:
        args.clients = sorted({int(c) for c in args.concurrency.split(",") if c.strip()})
    except ValueError:
        parser.error("--concurrency takes integers, e.g. 1,16")
    if not args.clients or min(args.clients) < 1 or max(args.clients) > 256:
        parser.error("--concurrency values must be within 1..256")
    if args.profile and args.profile not in APP_ENDPOINTS:
        parser.error(f"--profile takes one of {', '.join(APP_ENDPOINTS)}")
    if args.profile and args.profile not in selected:
        selected.append(args.profile)
    for item in args.env:
        if "=" not in item:
            parser.error(f"--env takes KEY=VALUE, got {item!r}")
    if args.requests < 1 or args.runs < 1 or args.warmup < 0 or args.workers < 1:
        parser.error("--requests, --runs and --workers must be positive, --warmup >= 0")
    check_loopback(args.database_url, "--database-url")
    check_loopback(args.redis_url, "--redis-url")
    return args


def paid_orders_needed(args: argparse.Namespace) -> int:
    if "cancel" not in args.selected:
        return 0
    # wrk sends a tail of one request per client after each of its two phases per run.
    wrk = args.generator == "wrk"
    tails = 2 * sum(args.clients) if wrk else 0
    per_point = args.runs * (args.warmup + args.requests)
    extra = 0
    if args.profile == "cancel":
        extra = args.warmup + args.requests + (2 * max(args.clients) if wrk else 0)
    return per_point * len(args.clients) + args.runs * tails + extra


def _install_sigterm() -> None:
    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)


def _measure_points(
    server: Server,
    endpoints: Sequence[str],
    args: argparse.Namespace,
    plans: Plans,
    poller: PgConnPoller | None,
    report: dict[str, Any],
) -> None:
    for endpoint in endpoints:
        for clients in args.clients:
            runs = []
            for r in range(args.runs):
                tag = f"{endpoint}-c{clients}-r{r + 1}"
                run = _load(server, endpoint, clients, args, plans, poller, tag)
                if poller is not None:
                    time.sleep(0.1)
                    run.pg_after = poller.current
                summary = run.summary()
                runs.append(summary)
                report["runs"].append({"endpoint": endpoint, "clients": clients, **summary})
                _log(
                    f"{tag}: {summary['rps']} req/s, p50 {summary['p50_ms']} ms, "
                    f"p95 {summary['p95_ms']} ms, errors {summary['errors']}, "
                    f"server CPU {summary['server_cpu_ms_per_req']} ms/req, "
                    f"PG peak {summary['pg_peak']}"
                )
                if summary["errors"] or summary["warmup_errors"] or summary["aborted"]:
                    _log(render_errors([(ENDPOINTS[endpoint][0], clients, summary)]))
                    if args.fail_fast or summary["aborted"]:
                        # An abort stops everything: the server goes, and its connections.
                        report["points"].append(aggregate(endpoint, clients, runs))
                        raise _FailFast
            report["points"].append(aggregate(endpoint, clients, runs))


def _load(
    server: Server,
    endpoint: str,
    clients: int,
    args: argparse.Namespace,
    plans: Plans,
    poller: PgConnPoller | None,
    tag: str,
) -> RunResult:
    """One run of ``endpoint`` at ``clients`` clients, from the ``--generator``."""
    warmup = plans.build(endpoint, args.warmup)
    measured = plans.build(endpoint, args.requests)
    timer = Timer(server, poller)
    if args.generator == "wrk":
        # The --pg-guard is checked between runs only (wrk runs on its own).
        tail = (plans.build(endpoint, clients), plans.build(endpoint, clients))
        return run_load_wrk(
            server.base_url,
            warmup,
            measured,
            tail,
            concurrency=clients,
            point_timeout=args.point_timeout,
            timer=timer,
            run_tag=tag,
        )
    return asyncio.run(
        run_load(
            server.base_url,
            warmup,
            measured,
            concurrency=clients,
            request_timeout=args.request_timeout,
            point_timeout=args.point_timeout,
            timer=timer,
            run_tag=tag,
            should_stop=poller.should_stop if poller else (lambda: None),
        )
    )


class _FailFast(Exception):
    pass


def _profile_run(
    server: Server, args: argparse.Namespace, plans: Plans, report: dict[str, Any], stamp: str
) -> None:
    endpoint, clients = args.profile, max(args.clients)
    out = Path(args.var_dir) / f"profile-{endpoint}-c{clients}-{stamp}.speedscope.json"
    _log(f"profiling {endpoint} at {clients} clients with py-spy -> {out}")
    with Profiler(server.pid, out, subprocesses=args.workers > 1, wall=args.profile_wall):
        run = _load(server, endpoint, clients, args, plans, None, f"{endpoint}-c{clients}-profile")
    if not out.exists():
        raise SystemExit(f"py-spy wrote no profile ({out.with_suffix('.log')})")
    top = top_frames(json.loads(out.read_text()))
    report["profile"] = {
        "endpoint": endpoint,
        "clients": clients,
        "mode": "wall (all threads, idle included)" if args.profile_wall else "cpu (GIL holder)",
        "file": str(out),
        "run": run.summary(),
        "top": top,
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    _install_sigterm()
    var = Path(args.var_dir)
    var.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    setup_log = var / f"setup-{stamp}.log"
    server_log = var / f"server-{stamp}.log"
    json_path = Path(args.json_path) if args.json_path else var / f"http_paths-{stamp}.json"
    run_secrets = new_run_secrets()
    env = server_env(args, run_secrets)
    runtime = Path(env["AVENTIDE_VAR_DIR"])
    (runtime / "static").mkdir(parents=True, exist_ok=True)
    (runtime / "prometheus").mkdir(parents=True, exist_ok=True)  # setup processes write it too
    app_endpoints = [e for e in APP_ENDPOINTS if e in args.selected]
    report: dict[str, Any] = {
        "benchmark": "bench/http_paths.py",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_revision(),
        "machine": machine_info(args.database_url, args.redis_url),
        "settings": recorded_settings(env, args),
        "options": {
            "endpoints": args.selected,
            "clients": args.clients,
            "requests": args.requests,
            "runs": args.runs,
            "warmup": args.warmup,
            "workers": args.workers,
            "generator": args.generator,
        },
        "queries": {},
        "runs": [],
        "points": [],
        "ceilings": {},
        "logs": {"setup": str(setup_log), "server": str(server_log)},
    }
    failed_fast = False
    try:
        seed: dict[str, Any] = {}
        paid: list[tuple[int, int]] = []
        if app_endpoints:
            prepare_database(args)
            _log("migrating")
            run_checked([sys.executable, "manage.py", "migrate", "--noinput"],
                        env=env, log=setup_log, timeout=600)  # fmt: skip
            if not args.no_collectstatic and not (runtime / "static" / "staticfiles.json").exists():
                _log("collectstatic (once per var dir)")
                run_checked([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
                            env=env, log=setup_log, timeout=600)  # fmt: skip
            pairs = max(args.clients)
            _log(
                f"seeding {pairs} buyer/seller pairs; counting SQL per endpoint "
                "(in-process, CaptureQueriesContext)"
            )
            seed = run_setup(
                ["seed", "--pairs", str(pairs), "--reader-orders", str(args.reader_orders),
                 "--queries", ",".join(e for e in app_endpoints if e in CLASSIC_ENDPOINTS)],
                env=env,
                log=setup_log,
                timeout=600,
            )  # fmt: skip
            report["queries"] = seed.pop("queries", {})
            needed = paid_orders_needed(args)
            if needed:
                _log(f"making {needed} paid orders through the services ({args.setup_procs} procs)")
                started = time.monotonic()
                paid = make_paid_orders(
                    needed, pairs=pairs, procs=args.setup_procs, env=env, log=setup_log,
                    timeout=3600,
                )  # fmt: skip
                _log(f"paid orders ready in {time.monotonic() - started:.0f}s")
        plans = Plans(seed, paid)

        if app_endpoints:
            shutil.rmtree(runtime / "prometheus", ignore_errors=True)
            (runtime / "prometheus").mkdir(parents=True)
            port = free_port()
            server = Server(
                [sys.executable, "-m", "aventide.server", "--host", HOST, "--port", str(port)],
                env=env, log=server_log, ready_path="/healthz", port=port,
            )  # fmt: skip
            _log(f"starting the server ({args.workers} worker(s)), log: {server_log}")
            guard = args.pg_guard
            if guard is None:
                guard = int(int(report["machine"].get("pg_max") or 100) * 0.8)
            report["settings"]["pg_guard"] = str(guard)
            with serving(server), PgConnPoller(args.database_url, guard=guard or None) as poller:
                try:
                    _measure_points(server, app_endpoints, args, plans, poller, report)
                except _FailFast:
                    failed_fast = True
                if args.profile and not failed_fast:
                    _profile_run(server, args, plans, report, stamp)
                if poller.error:
                    _log(f"PostgreSQL poller stopped early: {poller.error}")

        if "bare" in args.selected and not failed_fast:
            port = free_port()
            bare = Server(
                [sys.executable, "-m", "bench.bare", "--host", HOST, "--port", str(port)],
                env=env, log=var / f"bare-{stamp}.log", ready_path="/bare/async", port=port,
            )  # fmt: skip
            _log("starting the bare Django ASGI server (ceiling)")
            with serving(bare):
                try:
                    _measure_points(bare, BARE_ENDPOINTS, args, plans, None, report)
                except _FailFast:
                    failed_fast = True

        if "psycopg" in args.selected and not failed_fast:
            prepare_database(argparse.Namespace(database_url=args.database_url, reset_db=False))
            _log(
                f"raw psycopg ceiling: {args.psycopg_connections} connections, "
                f"{args.psycopg_transactions} transactions x {args.runs} runs"
            )
            report["ceilings"]["psycopg"] = psycopg_ceiling(
                args.database_url,
                connections=args.psycopg_connections,
                transactions=args.psycopg_transactions,
                runs=args.runs,
            )
    except KeyboardInterrupt:
        _log("interrupted: every started process was stopped")
        return 130
    finally:
        report["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        report["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        report["floors"] = floors(
            report["points"],
            report["ceilings"].get("psycopg"),
            max_pg_connections=args.max_pg_connections,
        )
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2) + "\n")

    print_report(report, json_path)
    errors = sum(p["errors"] for p in report["points"])
    aborted = [p["aborted"] for p in report["points"] if p.get("aborted")]
    if aborted:
        sys.stdout.write(f"\nABORTED: {aborted[0]}\n")
    bad_queries = {k: v["status"] for k, v in report["queries"].items() if v["status"] >= 300}
    if bad_queries:
        sys.stdout.write(
            f"\nFAILED: the in-process query count requests answered {bad_queries} "
            f"(see {setup_log})\n"
        )
        return 1
    if errors or failed_fast or aborted:
        sys.stdout.write(
            f"\nFAILED: {errors} non-2xx responses (must be 0). First error bodies:\n"
            + render_errors([(r["endpoint"], r["clients"], r) for r in report["runs"]])
            + f"\nServer log: {server_log} (grep the requestId values above)\n"
        )
        sampled = [e["request_id"] for r in report["runs"] for e in r.get("error_samples", [])]
        with contextlib.suppress(OSError), server_log.open(errors="replace") as fh:
            found = server_errors(fh, sampled)
            report["server_errors"] = found
            sys.stdout.write(render_server_errors(found) + "\n")
            json_path.write_text(json.dumps(report, indent=2) + "\n")
        return 1
    over = [f for f in report["floors"] if f["name"].startswith("peak PostgreSQL") and not f["ok"]]
    if over:
        sys.stdout.write(
            f"\nFAILED: {over[0]['value']} PostgreSQL connections to the bench database, more "
            f"than --max-pg-connections {args.max_pg_connections}\n"
        )
        return 1
    if args.enforce_floors and any(f["ok"] is False for f in report["floors"]):
        sys.stdout.write("\nFLOORS MISSED (--enforce-floors)\n")
        return 3
    return 0


def interpreter_line(info: dict[str, Any] | None) -> str:
    """The server's interpreter (the bench runs it with its own), flagged when it is a plain
    build: its figures are then not comparable with an optimised build's (decision 0024)."""
    if not info:
        return "interpreter: ?"
    line = f"interpreter: {info['executable']} {info['version']} ({info['why']})"
    if not info["optimized"]:
        line += (
            " -- WARNING: not an optimised build; about a fifth more CPU per request than"
            " production's (tools/interpreter.py; rm -rf .venv && make install-dev)"
        )
    return line


def print_report(report: dict[str, Any], json_path: Path) -> None:
    m = report["machine"]
    out = [
        "",
        f"HTTP paths benchmark - commit {report['commit']} - {report['started_at']}",
        f"machine: {m.get('nproc')} CPUs ({m.get('cpu_model')}), {m.get('memory_gib')} GiB, "
        f"PostgreSQL {m.get('postgresql')}, Redis {m.get('redis')}, "
        f"load average {m.get('loadavg_start')} -> {m.get('loadavg_end')}",
        interpreter_line(m.get("interpreter")),
        f"options: {report['options']}",
        "",
        render_table(report["points"], report["queries"]),
    ]
    psy = render_psycopg(report["ceilings"].get("psycopg"))
    if psy:
        out += ["", psy]
    out += ["", render_floors(report["floors"])]
    if "profile" in report:
        out += [
            "",
            f"profile: {report['profile']['file']}",
            render_profile(report["profile"]["top"]),
        ]
    out += ["", f"all figures: {json_path}"]
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
