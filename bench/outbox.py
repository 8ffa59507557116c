"""Outbox benchmark: jobs through a real Celery worker on Redis + PostgreSQL, with the
same-run ceiling of bare Celery tasks that do nothing (issue 10, item 10).

    python -m bench.outbox                      # 10,000 jobs x 3 runs (bench/README.md)
    python -m bench.outbox --quick              # smoke: 500 jobs, 1 run
    python -m bench.outbox --jobs 2000 --profile

What it does, all on 127.0.0.1 and bounded (fixed counts, a timeout per phase, every process
it starts stopped at the end, also on Ctrl-C or failure):

1. Prepares the bench database (created if missing; ``--reset-db`` drops it first) and
   migrates it.
2. Starts ONE Celery worker as an operator would (the Procfile's command: prefork,
   ``--concurrency 2``, ``--without-gossip --without-mingle``, log level INFO) with
   ``AVENTIDE_ENV=production``, DEBUG off, generated secrets, PostgreSQL, ``REDIS_URL`` and a
   broker of its own (``--broker-url``), eager tasks off, the sandbox providers at 0 ms latency
   and 0% failures, sandbox webhooks off. Its app is ``bench.outbox_app``: the production app
   plus a no-op task and per-task measurement hooks (see that module).
3. Warm-up (unmeasured): ``--warmup`` bare tasks and ``--warmup`` jobs.
4. ``--runs`` runs; each run has two phases, on the same worker and broker:
   - **bare**: a producer process publishes ``--jobs`` ``bench.noop`` tasks as fast as it can;
     measured from the first publish to the end of the last task;
   - **outbox**: a producer process enqueues ``--jobs`` jobs (``email.send``, sandbox) through
     ``integrations.services.enqueue``, ``--batch`` jobs per use-case transaction (default 1:
     one job per transaction, as a use case enqueues one); measured from the first commit
     to the end of the last ``run_job`` task. Per job: commit -> provider call (the job's
     ``Attempt.started_at``, taken right before the adapter is called, minus the commit time
     of its transaction). Afterwards every job is checked: ``succeeded``, 1 attempt, 1
     ``Attempt`` row, 1 ``integration.result`` audit event, and the sandbox ledgers of the
     worker processes counted exactly one call and one effect per job.
   Producers run while the worker consumes (end to end), each in its own process.
5. Prints the table (medians of the runs), the ratio to the ceiling and the floors, and
   writes every figure to ``--json``.

Exit status: 0 when every job succeeded exactly once; 1 when one did not or the harness
failed; 3 with ``--enforce-floors`` and a missed floor. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.http_paths import (
    Profiler,
    _tail,
    check_loopback,
    database_name,
    git_revision,
    machine_info,
    new_run_secrets,
    prepare_database,
    run_checked,
)
from bench.report import median_of, percentile, render_profile, top_frames

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/aventide_bench_outbox"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/9"
DONE_KEY = "bench:outbox:done:{name}"  # bench/outbox_app.py writes them
LEDGER_KEY = "bench:outbox:ledger"
BENCH_QUEUE = "bench-outbox"
RESULT_ACTION = "integration.result"

#: Floors of issue 10 (2-core machine).
FLOOR_RATIO = 0.3
FLOOR_P95_MS = 250.0


def _log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


# --- pure: records, phases, floors, rendering -------------------------------------------------


def parse_record(line: str | bytes) -> dict[str, Any]:
    """One task record of bench/outbox_app.py: ``id started ended statements savepoints
    commits rollbacks pid``."""
    text = line.decode() if isinstance(line, bytes) else line
    ident, started, ended, stmts, saves, commits, rollbacks, pid = text.split()
    return {
        "id": int(ident),
        "started": float(started),
        "ended": float(ended),
        "statements": int(stmts),
        "savepoints": int(saves),
        "commits": int(commits),
        "rollbacks": int(rollbacks),
        "pid": int(pid),
    }


def _pcts(values: Sequence[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None}
    return {
        "p50_ms": round(percentile(values, 50), 2),
        "p95_ms": round(percentile(values, 95), 2),
        "p99_ms": round(percentile(values, 99), 2),
        "max_ms": round(max(values), 2),
    }


def query_stats(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """SQL per task over the phase's records: median statements (SAVEPOINT/RELEASE apart),
    transactions, and round trips = statements + savepoints + 2 per transaction (BEGIN and
    COMMIT/ROLLBACK: psycopg sends BEGIN before a transaction's first statement)."""
    if not records:
        return {"statements": None, "savepoints": None, "transactions": None, "round_trips": None}
    txs = [r["commits"] + r["rollbacks"] for r in records]
    trips = [r["statements"] + r["savepoints"] + 2 * t for r, t in zip(records, txs, strict=True)]
    return {
        "statements": statistics.median(r["statements"] for r in records),
        "statements_min": min(r["statements"] for r in records),
        "statements_max": max(r["statements"] for r in records),
        "savepoints": statistics.median(r["savepoints"] for r in records),
        "transactions": statistics.median(txs),
        "round_trips": statistics.median(trips),
    }


def bare_phase(produced: dict[str, Any], records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Figures of a bare phase: tasks/s from the first publish to the last task's end, and
    publish -> task start latency."""
    count = len(records)
    first = float(produced["first_publish"])
    last = max(r["ended"] for r in records)
    sent = produced.get("sent") or []
    waits = [(r["started"] - sent[r["id"]]) * 1000 for r in records if 0 <= r["id"] < len(sent)]
    return {
        "tasks": count,
        "elapsed_s": round(last - first, 3),
        "rate": round(count / (last - first), 1) if last > first else None,
        "start_latency": _pcts(waits),
        "producer_rate": _rate(produced),
        "producer_cpu_ms": round(1000 * produced["cpu_s"] / count, 3) if count else None,
        "queries": query_stats(records),
    }


def _rate(produced: dict[str, Any]) -> float | None:
    took = float(produced["finished"]) - float(produced["started"])
    return round(produced["count"] / took, 1) if took > 0 else None


def outbox_phase(
    produced: dict[str, Any],
    records: Sequence[dict[str, Any]],
    rows: dict[int, dict[str, Any]],
) -> dict[str, Any]:
    """Figures of an outbox phase.

    ``produced``: the producer's document (``commits``: ``[commit_time, [job ids]]``);
    ``records``: the ``run_job`` task records; ``rows``: per job id, from the database:
    ``call`` (``Attempt.started_at`` as epoch seconds), ``status``, ``attempts``,
    ``attempt_rows``, ``results`` (``integration.result`` audit events).
    """
    commit_of: dict[int, float] = {}
    for commit_time, ids in produced["commits"]:
        for job_id in ids:
            commit_of[int(job_id)] = float(commit_time)
    first_commit = min(commit_of.values())
    last_end = max(r["ended"] for r in records) if records else first_commit
    to_call = [
        (rows[j]["call"] - commit_of[j]) * 1000
        for j in commit_of
        if j in rows and rows[j].get("call") is not None
    ]
    started: dict[int, float] = {}
    for r in records:  # the first run of each job id (a second one would be a no-op run)
        started.setdefault(r["id"], r["started"])
    to_start = [(started[j] - commit_of[j]) * 1000 for j in commit_of if j in started]
    count = len(commit_of)
    return {
        "jobs": count,
        "batch": produced.get("batch", 1),
        "elapsed_s": round(last_end - first_commit, 3),
        "rate": round(count / (last_end - first_commit), 1) if last_end > first_commit else None,
        "commit_to_call": _pcts(to_call),
        "commit_to_task_start": _pcts(to_start),
        "producer_rate": _rate(produced),
        "producer_cpu_ms": round(1000 * produced["cpu_s"] / count, 3) if count else None,
        "task_runs": len(records),
        "queries": query_stats(records),
    }


def verify_jobs(
    job_ids: Sequence[int], rows: dict[int, dict[str, Any]], ledger_delta: tuple[int, int]
) -> dict[str, Any]:
    """Every job ``succeeded`` exactly once: status, one attempt, one Attempt row, one
    result audit event; and the sandbox ledgers' calls and effects grew by the job count."""
    problems: list[str] = []
    counts = {"succeeded": 0, "missing": 0, "not_succeeded": 0, "not_once": 0}
    for j in job_ids:
        row = rows.get(j)
        if row is None:
            counts["missing"] += 1
            continue
        if row["status"] != "succeeded":
            counts["not_succeeded"] += 1
            if len(problems) < 5:
                problems.append(f"job {j}: status {row['status']}")
            continue
        counts["succeeded"] += 1
        if (row["attempts"], row["attempt_rows"], row["results"]) != (1, 1, 1):
            counts["not_once"] += 1
            if len(problems) < 5:
                problems.append(
                    f"job {j}: attempts {row['attempts']}, attempt rows {row['attempt_rows']}, "
                    f"result events {row['results']}"
                )
    calls, effects = ledger_delta
    n = len(job_ids)
    if (calls, effects) != (n, n):
        problems.append(f"sandbox ledgers: {calls} calls and {effects} effects for {n} jobs")
    return {
        **counts,
        "ledger_calls": calls,
        "ledger_effects": effects,
        "ok": not problems and counts["succeeded"] == n and not counts["not_once"],
        "problems": problems,
    }


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the runs of each figure, and the ratio to the ceiling (median of the
    per-run ratios: each run's outbox against the same run's bare tasks)."""

    def med(phase: str, *path: str) -> float | None:
        values = []
        for run in runs:
            value: Any = run[phase]
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            values.append(value)
        return median_of(values)

    ratios = [
        run["outbox"]["rate"] / run["bare"]["rate"]
        for run in runs
        if run["outbox"].get("rate") and run["bare"].get("rate")
    ]
    return {
        "runs": len(runs),
        "bare_rate": med("bare", "rate"),
        "bare_start_p50_ms": med("bare", "start_latency", "p50_ms"),
        "bare_start_p95_ms": med("bare", "start_latency", "p95_ms"),
        "bare_producer_rate": med("bare", "producer_rate"),
        "bare_worker_cpu_ms": med("bare", "worker_cpu_ms"),
        "outbox_rate": med("outbox", "rate"),
        "ratio": round(statistics.median(ratios), 3) if ratios else None,
        "p50_ms": med("outbox", "commit_to_call", "p50_ms"),
        "p95_ms": med("outbox", "commit_to_call", "p95_ms"),
        "p99_ms": med("outbox", "commit_to_call", "p99_ms"),
        "start_p95_ms": med("outbox", "commit_to_task_start", "p95_ms"),
        "producer_rate": med("outbox", "producer_rate"),
        "producer_cpu_ms": med("outbox", "producer_cpu_ms"),
        "worker_cpu_ms": med("outbox", "worker_cpu_ms"),
        "statements": med("outbox", "queries", "statements"),
        "round_trips": med("outbox", "queries", "round_trips"),
        "transactions": med("outbox", "queries", "transactions"),
        "verified": all(run["verify"]["ok"] for run in runs) if runs else False,
    }


def floors(summary: dict[str, Any]) -> list[dict[str, Any]]:
    ratio, p95 = summary.get("ratio"), summary.get("p95_ms")
    return [
        {
            "name": "outbox jobs/s vs bare Celery tasks/s (same run)",
            "value": ratio,
            "floor": f">= {FLOOR_RATIO}x",
            "ok": None if ratio is None else ratio >= FLOOR_RATIO,
        },
        {
            "name": "p95 commit -> provider call, ms",
            "value": p95,
            "floor": f"<= {FLOOR_P95_MS:g}",
            "ok": None if p95 is None else p95 <= FLOOR_P95_MS,
        },
        {
            "name": "every job succeeded exactly once, all runs",
            "value": "yes" if summary.get("verified") else "no",
            "floor": "yes",
            "ok": bool(summary.get("verified")),
        },
    ]


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) and not isinstance(value, bool) and digits:
        value = float(value)
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.{digits}f}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if digits else f"{int(value):,}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def render_runs(runs: Sequence[dict[str, Any]]) -> str:
    head = (
        "| run | bare tasks/s | outbox jobs/s | ratio | commit -> call p50 / p95 / p99 ms "
        "| producer jobs/s | worker CPU ms/job (bare) | SQL statements / round trips per job "
        "| verified |"
    )
    lines = [head, "|" + "---|" * 9]
    for i, run in enumerate(runs, 1):
        b, o = run["bare"], run["outbox"]
        lat = o["commit_to_call"]
        ratio = o["rate"] / b["rate"] if o.get("rate") and b.get("rate") else None
        lines.append(
            f"| {i} | {_num(b['rate'])} | {_num(o['rate'])} | {_num(ratio, 3)} | "
            f"{_num(lat['p50_ms'])} / {_num(lat['p95_ms'])} / {_num(lat['p99_ms'])} | "
            f"{_num(o['producer_rate'])} | {_num(o.get('worker_cpu_ms'), 2)} "
            f"({_num(b.get('worker_cpu_ms'), 2)}) | "
            f"{_num(o['queries']['statements'], 0)} / {_num(o['queries']['round_trips'], 0)} | "
            f"{'yes' if run['verify']['ok'] else '**NO**'} |"
        )
    return "\n".join(lines)


def render_summary(summary: dict[str, Any], options: dict[str, Any]) -> str:
    s = summary
    rows = [
        "| figure | median of runs |",
        "|---|---|",
        f"| jobs per run | {_num(options.get('jobs'), 0)} (enqueued {options.get('batch')} per "
        "transaction) |",
        f"| bare Celery tasks/s (ceiling) | {_num(s['bare_rate'])} |",
        f"| outbox jobs/s, first commit -> last job done | {_num(s['outbox_rate'])} |",
        f"| ratio to the ceiling (median of per-run ratios) | {_num(s['ratio'], 3)} |",
        f"| commit -> provider call p50 / p95 / p99 ms | {_num(s['p50_ms'])} / "
        f"{_num(s['p95_ms'])} / {_num(s['p99_ms'])} |",
        f"| commit -> task start p95 ms | {_num(s['start_p95_ms'])} |",
        f"| bare: publish -> task start p50 / p95 ms | {_num(s['bare_start_p50_ms'])} / "
        f"{_num(s['bare_start_p95_ms'])} |",
        f"| producer: jobs enqueued/s (bare: tasks published/s) | {_num(s['producer_rate'])} "
        f"({_num(s['bare_producer_rate'])}) |",
        f"| producer CPU ms per job | {_num(s['producer_cpu_ms'], 2)} |",
        f"| worker CPU ms per job (bare task) | {_num(s['worker_cpu_ms'], 2)} "
        f"({_num(s['bare_worker_cpu_ms'], 2)}) |",
        f"| worker SQL per job: statements / transactions / round trips | "
        f"{_num(s['statements'], 0)} / {_num(s['transactions'], 0)} / "
        f"{_num(s['round_trips'], 0)} |",
    ]
    return "\n".join(rows)


def render_floors(rows: Sequence[dict[str, Any]]) -> str:
    out = ["| check | value | floor | met |", "|---|---|---|---|"]
    for row in rows:
        met = "-" if row["ok"] is None else ("yes" if row["ok"] else "**NO**")
        out.append(f"| {row['name']} | {_num(row['value'], 3)} | {row['floor']} | {met} |")
    return "\n".join(out)


def _offered(rate: Any) -> str:
    return f"open loop at {rate:g} jobs/s" if rate else "as fast as it can"


def render_markdown(result: dict[str, Any]) -> str:
    m = result.get("machine", {})
    opts = result.get("options", {})
    lines = [
        f"**{result.get('started_at', '?')}**, commit `{result.get('commit', '?')}`, "
        f"{opts.get('jobs')} jobs x {opts.get('runs')} runs, worker concurrency "
        f"{opts.get('concurrency')} (prefork), batch {opts.get('batch')}, producer "
        f"{_offered(opts.get('rate'))}; load average "
        f"{m.get('loadavg_start')} -> {m.get('loadavg_end')} on {m.get('nproc')} CPUs",
        "",
        render_summary(result["summary"], opts),
        "",
        render_runs(result["runs"]),
        "",
        render_floors(result["floors"]),
    ]
    return "\n".join(lines)


# --- processes ------------------------------------------------------------------------------


def worker_env(args: argparse.Namespace, run_secrets: dict[str, str]) -> dict[str, str]:
    """The production environment of the worker and of the producers."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    for key in list(env):
        if key.startswith("SANDBOX_"):
            env.pop(key)
    runtime = Path(args.var_dir) / "runtime"
    env.update(
        AVENTIDE_ENV="production",
        DEBUG="false",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        CELERY_BROKER_URL=args.broker_url,
        CELERY_TASK_ALWAYS_EAGER="false",
        ALLOWED_HOSTS="127.0.0.1",
        ENABLE_PUSH_NOTIFICATIONS="false",
        AVENTIDE_VAR_DIR=str(runtime),
        PROMETHEUS_MULTIPROC_DIR=str(runtime / "prometheus"),
        CACHE_KEY_PREFIX=f"aventide:bench:{run_secrets['run_id']}",
        CHANNEL_LAYER_PREFIX=f"aventide:bench:{run_secrets['run_id']}:ch",
        SECRET_KEY=run_secrets["SECRET_KEY"],
        JWT_SECRET=run_secrets["JWT_SECRET"],
        ANON_SECRET=run_secrets["ANON_SECRET"],
        WEBHOOK_SECRET_PAYMENTS=run_secrets["ANON_SECRET"] + "-payments",
        WEBHOOK_SECRET_COURIER=run_secrets["ANON_SECRET"] + "-courier",
        # The sandbox at zero latency, no failures, no webhooks (email sends none anyway).
        SANDBOX_LATENCY_MS="0",
        SANDBOX_ERROR_RATE="0",
        SANDBOX_FAILURE_MODE="none",
        SANDBOX_WEBHOOKS="false",
    )
    for key in ("JWT_SIGNING_KEYS", "ANON_SIGNING_KEYS"):
        env.pop(key, None)
    for item in args.env:
        key, _, value = item.partition("=")
        env[key] = value
    return env


class Worker:
    """The Celery worker in its own process group; ``stop()`` ends the whole group."""

    def __init__(self, cmd: list[str], *, env: dict[str, str], log: Path) -> None:
        self.cmd, self.env, self.log = cmd, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with self.log.open("a") as fh:
            self.proc = subprocess.Popen(
                self.cmd, cwd=ROOT, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
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

    def stop(self, grace: float = 20.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        pgid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


@contextlib.contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    try:
        worker.start()
        yield worker
    finally:
        worker.stop()


class Bench:
    """One harness run: the worker, the producers, Redis and PostgreSQL reads."""

    def __init__(self, args: argparse.Namespace, env: dict[str, str], worker: Worker) -> None:
        import redis

        self.args, self.env, self.worker = args, env, worker
        self.redis: Any = redis.Redis.from_url(args.redis_url, socket_timeout=10)
        self.log = Path(args.var_dir) / "producer.log"

    def reset_keys(self, *names: str) -> None:
        self.redis.delete(*(DONE_KEY.format(name=n) for n in names))

    def ledger_totals(self) -> tuple[int, int]:
        calls = effects = 0
        for value in self.redis.hgetall(LEDGER_KEY).values():
            c, e = value.decode().split()
            calls, effects = calls + int(c), effects + int(e)
        return calls, effects

    def produce(self, mode: str, count: int, tag: str) -> dict[str, Any]:
        """Run a producer to completion while the worker consumes; its JSON document."""
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
            out = Path(tmp.name)
        cmd = [sys.executable, "-m", "bench.outbox_app", "produce", "--mode", mode,
               "--count", str(count), "--batch", str(self.args.batch), "--tag", tag,
               "--out", str(out)]  # fmt: skip
        if mode == "jobs" and self.args.rate:
            cmd += ["--rate", str(self.args.rate)]
        try:
            run_checked(cmd, env=self.env, log=self.log, timeout=self.args.phase_timeout)
            data: dict[str, Any] = json.loads(out.read_text())
            return data
        finally:
            out.unlink(missing_ok=True)

    def wait_done(self, name: str, count: int) -> list[dict[str, Any]]:
        key = DONE_KEY.format(name=name)
        deadline = time.monotonic() + self.args.phase_timeout
        while self.redis.llen(key) < count:
            if not self.worker.alive():
                raise SystemExit(f"the worker exited\n{_tail(self.worker.log)}")
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"{self.redis.llen(key)} of {count} {name} tasks done after "
                    f"--phase-timeout {self.args.phase_timeout:.0f}s\n{_tail(self.worker.log)}"
                )
            time.sleep(0.05)
        return [parse_record(r) for r in self.redis.lrange(key, 0, -1)]

    def bare(self, count: int) -> dict[str, Any]:
        self.reset_keys("noop")
        cpu0 = self.worker.cpu_seconds()
        produced = self.produce("noop", count, "bare")
        records = self.wait_done("noop", count)
        phase = bare_phase(produced, records)
        phase["worker_cpu_ms"] = round(1000 * (self.worker.cpu_seconds() - cpu0) / count, 3)
        return phase

    def outbox(self, count: int, tag: str) -> dict[str, Any]:
        self.reset_keys("run_job")
        ledger0 = self.ledger_totals()
        cpu0 = self.worker.cpu_seconds()
        produced = self.produce("jobs", count, tag)
        records = self.wait_done("run_job", count)
        worker_cpu = self.worker.cpu_seconds() - cpu0
        time.sleep(0.2)  # the last tasks' ledger totals are written in the same pipeline
        job_ids = [int(j) for _, ids in produced["commits"] for j in ids]
        rows = self.job_rows(job_ids)
        phase = outbox_phase(produced, records, rows)
        phase["worker_cpu_ms"] = round(1000 * worker_cpu / count, 3)
        ledger1 = self.ledger_totals()
        phase_verify = verify_jobs(
            job_ids, rows, (ledger1[0] - ledger0[0], ledger1[1] - ledger0[1])
        )
        return {"phase": phase, "verify": phase_verify}

    def job_rows(self, job_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        import psycopg

        rows: dict[int, dict[str, Any]] = {}
        with psycopg.connect(self.args.database_url, connect_timeout=5) as conn:
            for job_id, status, attempts, call, attempt_rows in conn.execute(
                "SELECT j.id, j.status, j.attempts, min(a.started_at), count(a.id) "
                "FROM integrations_job j LEFT JOIN integrations_attempt a ON a.job_id = j.id "
                "WHERE j.id = ANY(%s) GROUP BY j.id",
                [list(job_ids)],
            ):
                rows[int(job_id)] = {
                    "status": status,
                    "attempts": attempts,
                    "call": call.timestamp() if call is not None else None,
                    "attempt_rows": attempt_rows,
                    "results": 0,
                }
            for target_id, n in conn.execute(
                "SELECT target_id, count(*) FROM audit_event WHERE action = %s "
                "AND target_type = 'job' AND target_id = ANY(%s) GROUP BY target_id",
                [RESULT_ACTION, [str(j) for j in job_ids]],
            ):
                with contextlib.suppress(ValueError, KeyError):
                    rows[int(target_id)]["results"] = int(n)
        return rows


def purge_broker(broker_url: str) -> None:
    """Empty the bench's own queue (``bench-outbox``, see bench/outbox_app.py), so a run never
    starts with tasks an interrupted earlier run left behind. Nothing else is touched."""
    import redis

    client = redis.Redis.from_url(broker_url, socket_timeout=5)
    client.delete(BENCH_QUEUE)
    client.close()


# --- orchestration -------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.outbox",
        description="Outbox jobs through a real Celery worker, with a bare-task ceiling "
        "(bench/README.md).",
    )
    parser.add_argument("--jobs", type=int, default=None, help="jobs (and bare tasks) per run "
                        "(default 10000; --quick 500)")  # fmt: skip
    parser.add_argument("--runs", type=int, default=None, help="runs (default 3; --quick 1)")
    parser.add_argument(
        "--warmup", type=int, default=None, help="unmeasured tasks and jobs first (default 200)"
    )
    parser.add_argument(
        "--batch", type=int, default=1, help="jobs per enqueue transaction (default 1)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=2, help="worker processes (prefork; default 2)"
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="offered jobs/s of the outbox producer, open loop (default 0: as fast as it can)",
    )
    parser.add_argument("--quick", action="store_true", help="500 jobs, 1 run, 50 warm-up")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="one extra, unmeasured outbox phase under py-spy (the worker's processes)",
    )
    parser.add_argument("--json", dest="json_path", default=None)
    parser.add_argument(
        "--database-url", default=os.environ.get("BENCH_OUTBOX_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_OUTBOX_REDIS_URL", DEFAULT_REDIS_URL)
    )
    parser.add_argument(
        "--broker-url", default=os.environ.get("BENCH_OUTBOX_BROKER_URL", DEFAULT_BROKER_URL)
    )
    parser.add_argument("--reset-db", action="store_true", help="drop and recreate the database")
    parser.add_argument("--phase-timeout", type=float, default=900.0)
    parser.add_argument(
        "--enforce-floors", action="store_true", help="exit 3 when a floor of issue 10 is missed"
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="KEY=VALUE", help="extra worker env"
    )
    parser.add_argument("--var-dir", default=str(ROOT / "var" / "bench"))
    args = parser.parse_args(argv)
    args.jobs = args.jobs or (500 if args.quick else 10_000)
    args.runs = args.runs or (1 if args.quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (50 if args.quick else 200)
    if args.jobs < 1 or args.runs < 1 or args.warmup < 0 or args.batch < 1 or args.rate < 0:
        parser.error("--jobs, --runs and --batch must be positive, --warmup >= 0")
    if not 1 <= args.concurrency <= 16:
        parser.error("--concurrency must be within 1..16")
    for item in args.env:
        if "=" not in item:
            parser.error(f"--env takes KEY=VALUE, got {item!r}")
    check_loopback(args.database_url, "--database-url")
    check_loopback(args.redis_url, "--redis-url")
    check_loopback(args.broker_url, "--broker-url")
    if _redis_target(args.redis_url) == _redis_target(args.broker_url):
        parser.error("--broker-url must be another Redis database than --redis-url")
    return args


def _redis_target(url: str) -> tuple[str | None, int | None, str]:
    parts = urlsplit(url)
    return parts.hostname, parts.port, parts.path.lstrip("/") or "0"


def worker_command(args: argparse.Namespace) -> list[str]:
    # The Procfile's worker, with the bench app module (production app + hooks).
    return [sys.executable, "-m", "celery", "-A", "bench.outbox_app", "worker",
            "--pool", "prefork", "--concurrency", str(args.concurrency),
            "--without-gossip", "--without-mingle", "--loglevel", "INFO"]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    var = Path(args.var_dir)
    var.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    worker_log = var / f"outbox-worker-{stamp}.log"
    setup_log = var / f"outbox-setup-{stamp}.log"
    json_path = Path(args.json_path) if args.json_path else var / f"outbox-{stamp}.json"
    run_secrets = new_run_secrets()
    env = worker_env(args, run_secrets)
    runtime = Path(env["AVENTIDE_VAR_DIR"])
    (runtime / "prometheus").mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {
        "benchmark": "bench/outbox.py",
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "commit": git_revision(),
        "machine": machine_info(args.database_url, args.redis_url),
        "settings": {
            "AVENTIDE_ENV": "production",
            "database": database_name(args.database_url),
            "redis_db": _redis_target(args.redis_url)[2],
            "broker_db": _redis_target(args.broker_url)[2],
            "sandbox": "email.send, latency 0 ms, failures none, webhooks off",
            "worker": " ".join(worker_command(args)[2:]),
            **{k.partition("=")[0]: k.partition("=")[2] for k in args.env},
        },
        "options": {
            "jobs": args.jobs,
            "runs": args.runs,
            "warmup": args.warmup,
            "batch": args.batch,
            "concurrency": args.concurrency,
            "rate": args.rate,
        },
        "runs": [],
        "logs": {"worker": str(worker_log), "setup": str(setup_log)},
    }
    try:
        prepare_database(args)
        _log("migrating")
        run_checked([sys.executable, "manage.py", "migrate", "--noinput"],
                    env=env, log=setup_log, timeout=600)  # fmt: skip
        purge_broker(args.broker_url)
        worker = Worker(worker_command(args), env=env, log=worker_log)
        _log(f"starting the Celery worker (concurrency {args.concurrency}), log: {worker_log}")
        with running(worker):
            bench = Bench(args, env, worker)
            bench.redis.delete(LEDGER_KEY)
            if args.warmup:
                _log(f"warm-up: {args.warmup} bare tasks, {args.warmup} jobs")
                bench.bare(args.warmup)
                warm = bench.outbox(args.warmup, f"{run_secrets['run_id']}-warm")
                if not warm["verify"]["ok"]:
                    raise SystemExit(f"warm-up jobs failed: {warm['verify']['problems']}")
            for r in range(1, args.runs + 1):
                bare = bench.bare(args.jobs)
                _log(f"run {r}: bare {bare['rate']} tasks/s")
                out = bench.outbox(args.jobs, f"{run_secrets['run_id']}-r{r}")
                phase, verify = out["phase"], out["verify"]
                _log(
                    f"run {r}: outbox {phase['rate']} jobs/s, commit -> call p95 "
                    f"{phase['commit_to_call']['p95_ms']} ms, producer {phase['producer_rate']} "
                    f"jobs/s, {phase['queries']['statements']} statements/job, verified "
                    f"{verify['ok']}"
                )
                report["runs"].append({"bare": bare, "outbox": phase, "verify": verify})
            if args.profile:
                out_file = var / f"profile-outbox-{stamp}.speedscope.json"
                _log(f"profiling an extra outbox phase with py-spy -> {out_file}")
                with Profiler(worker.pid, out_file, subprocesses=True):
                    prof = bench.outbox(args.jobs, f"{run_secrets['run_id']}-profile")
                if out_file.exists():
                    report["profile"] = {
                        "file": str(out_file),
                        "mode": "cpu (GIL holder), worker processes",
                        "rate": prof["phase"]["rate"],
                        "top": top_frames(json.loads(out_file.read_text())),
                    }
    except KeyboardInterrupt:
        _log("interrupted: every started process was stopped")
        return 130
    finally:
        report["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
        report["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        report["summary"] = summarize(report["runs"])
        report["floors"] = floors(report["summary"])
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(report, indent=2) + "\n")

    sys.stdout.write("\n" + render_markdown(report) + "\n")
    if "profile" in report:
        sys.stdout.write(f"\nprofile: {report['profile']['file']}\n")
        sys.stdout.write(render_profile(report["profile"]["top"]) + "\n")
    sys.stdout.write(f"\nall figures: {json_path}\n")
    if not report["summary"]["verified"]:
        problems = [p for run in report["runs"] for p in run["verify"]["problems"]]
        sys.stdout.write(f"\nFAILED: not every job succeeded exactly once: {problems[:5]}\n")
        return 1
    if args.enforce_floors and any(f["ok"] is False for f in report["floors"]):
        sys.stdout.write("\nFLOORS MISSED (--enforce-floors)\n")
        return 3
    return 0


def report_main(argv: Sequence[str] | None = None) -> int:
    """``python -m bench.outbox --render RESULT.json``: print a saved run as Markdown."""
    for path in argv or []:
        with open(path, encoding="utf-8") as fh:
            sys.stdout.write(render_markdown(json.load(fh)) + "\n\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--render":
        raise SystemExit(report_main(sys.argv[2:]))
    raise SystemExit(main())
