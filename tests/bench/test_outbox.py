"""The outbox benchmark harness cannot silently rot.

The pure parts (task records, phase figures, the exactly-once check, medians, floors,
rendering) are checked directly; a ``slow`` smoke runs the real harness end to end (a real
Celery worker on Redis + PostgreSQL, its own database) with a tiny job count. These are not
performance tests: no figure is asserted beyond "it measured something and every job
succeeded exactly once".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from bench import outbox

ROOT = Path(__file__).resolve().parents[2]


def _record(ident: int, started: float, ended: float, statements: int = 6) -> dict[str, Any]:
    line = f"{ident} {started:.6f} {ended:.6f} {statements} 0 2 0 4242"
    return outbox.parse_record(line.encode())


def test_parse_record_reads_the_worker_hook_line() -> None:
    rec = outbox.parse_record(b"17 100.5 100.75 6 2 2 0 99")
    assert rec == {
        "id": 17, "started": 100.5, "ended": 100.75, "statements": 6, "savepoints": 2,
        "commits": 2, "rollbacks": 0, "pid": 99,
    }  # fmt: skip


def test_query_stats_counts_round_trips_with_begin_and_commit() -> None:
    records = [_record(1, 0, 1), _record(2, 0, 1), _record(3, 0, 1, statements=7)]
    stats = outbox.query_stats(records)
    assert stats["statements"] == 6
    assert stats["statements_max"] == 7
    assert stats["transactions"] == 2
    assert stats["round_trips"] == 6 + 2 * 2


def test_outbox_phase_measures_commit_to_call_and_end_to_end_rate() -> None:
    produced = {
        "count": 4, "batch": 2, "started": 99.0, "finished": 101.0, "cpu_s": 0.02,
        "commits": [[100.0, [1, 2]], [100.5, [3, 4]]],
    }  # fmt: skip
    rows = {j: {"call": 100.0 + 0.1 * j} for j in (1, 2)}
    rows.update({j: {"call": 100.5 + 0.2 * j} for j in (3, 4)})
    records = [_record(j, rows[j]["call"] - 0.01, rows[j]["call"] + 0.05) for j in (1, 2, 3, 4)]
    phase = outbox.outbox_phase(produced, records, rows)
    assert phase["jobs"] == 4
    assert phase["elapsed_s"] == pytest.approx(1.35)  # first commit 100.0 -> last end 101.35
    assert phase["rate"] == pytest.approx(4 / 1.35, abs=0.1)
    latencies = sorted([100.0, 200.0, 600.0, 800.0])
    assert phase["commit_to_call"]["p50_ms"] == pytest.approx(400.0)
    assert phase["commit_to_call"]["max_ms"] == pytest.approx(latencies[-1])
    assert phase["producer_rate"] == 2.0
    assert phase["producer_cpu_ms"] == 5.0


def test_bare_phase_measures_publish_to_start_and_rate() -> None:
    produced = {"count": 2, "started": 9.0, "finished": 10.5, "cpu_s": 0.002,
                "first_publish": 10.0, "sent": [10.0, 10.2]}  # fmt: skip
    records = [_record(0, 10.01, 10.02, 0), _record(1, 10.25, 10.5, 0)]
    phase = outbox.bare_phase(produced, records)
    assert phase["rate"] == pytest.approx(4.0)
    assert phase["start_latency"]["p50_ms"] == pytest.approx(30.0)
    assert phase["queries"]["statements"] == 0


def _row(status: str = "succeeded", attempts: int = 1, rows: int = 1, results: int = 1) -> dict:
    return {"status": status, "attempts": attempts, "attempt_rows": rows, "results": results,
            "call": 1.0}  # fmt: skip


def test_verify_accepts_only_every_job_succeeded_exactly_once() -> None:
    good = outbox.verify_jobs([1, 2], {1: _row(), 2: _row()}, (2, 2))
    assert good["ok"] and good["succeeded"] == 2
    twice = outbox.verify_jobs([1, 2], {1: _row(), 2: _row(attempts=2, rows=2)}, (3, 2))
    assert not twice["ok"]
    assert twice["not_once"] == 1
    assert any("attempts 2" in p for p in twice["problems"])
    assert any("3 calls" in p for p in twice["problems"])
    missing = outbox.verify_jobs([1, 2], {1: _row(status="running")}, (1, 1))
    assert not missing["ok"]
    assert (missing["missing"], missing["not_succeeded"]) == (1, 1)


def _run(bare: float, rate: float, p95: float, ok: bool = True) -> dict[str, Any]:
    lat = {"p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95 * 1.5, "max_ms": p95 * 2}
    queries = {"statements": 6, "transactions": 2, "round_trips": 10, "savepoints": 0}
    return {
        "bare": {"rate": bare, "start_latency": lat, "producer_rate": 900.0,
                 "worker_cpu_ms": 1.5},
        "outbox": {"rate": rate, "commit_to_call": lat, "commit_to_task_start": lat,
                   "producer_rate": 150.0, "producer_cpu_ms": 4.0, "worker_cpu_ms": 8.0,
                   "queries": queries},
        "verify": {"ok": ok, "problems": [] if ok else ["job 1: status dead"]},
    }  # fmt: skip


def test_summary_takes_medians_and_the_median_of_same_run_ratios() -> None:
    runs = [_run(500, 100, 300), _run(400, 160, 200), _run(450, 180, 100)]
    summary = outbox.summarize(runs)
    assert summary["bare_rate"] == 450
    assert summary["outbox_rate"] == 160
    assert summary["ratio"] == 0.4  # per run: 0.2, 0.4, 0.4
    assert summary["p95_ms"] == 200
    assert summary["statements"] == 6
    assert summary["verified"] is True


def test_floors_of_issue_10() -> None:
    met = outbox.floors(outbox.summarize([_run(400, 160, 200)]))
    assert [f["ok"] for f in met] == [True, True, True]
    missed = outbox.floors(outbox.summarize([_run(500, 100, 300, ok=False)]))
    assert [f["ok"] for f in missed] == [False, False, False]
    text = outbox.render_floors(missed)
    assert "| p95 commit -> provider call, ms | 300.000 | <= 250 | **NO** |" in text


def test_a_saved_run_renders_as_the_markdown_the_readme_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = [_run(400, 160, 200)]
    summary = outbox.summarize(runs)
    saved = {
        "started_at": "2026-12-03T08:00:00+00:00", "commit": "abc123",
        "machine": {"nproc": 2, "loadavg_start": [1.0], "loadavg_end": [2.0]},
        "options": {"jobs": 10000, "runs": 1, "batch": 1, "concurrency": 2},
        "runs": runs, "summary": summary, "floors": outbox.floors(summary),
    }  # fmt: skip
    path = tmp_path / "run.json"
    path.write_text(json.dumps(saved))
    assert outbox.report_main([str(path)]) == 0
    text = capsys.readouterr().out
    assert "commit `abc123`" in text
    assert "| outbox jobs/s, first commit -> last job done | 160.0 |" in text
    assert "| 1 | 400.0 | 160.0 | 0.400 |" in text


def test_the_harness_refuses_anything_but_loopback_and_a_shared_broker_db() -> None:
    with pytest.raises(SystemExit, match=r"127\.0\.0\.1"):
        outbox.parse_args(["--database-url", "postgres://postgres@db.example.com/x_bench"])
    with pytest.raises(SystemExit):
        outbox.parse_args(["--redis-url", "redis://127.0.0.1:6379/3",
                           "--broker-url", "redis://127.0.0.1:6379/3"])  # fmt: skip
    quick = outbox.parse_args(["--quick"])
    assert (quick.jobs, quick.runs, quick.warmup) == (500, 1, 50)
    full = outbox.parse_args([])
    assert (full.jobs, full.runs, full.concurrency, full.batch) == (10_000, 3, 2, 1)


def test_the_worker_runs_in_production_mode_against_a_zero_latency_sandbox() -> None:
    args = outbox.parse_args(["--env", "LOG_LEVEL=WARNING"])
    secrets = {"run_id": "abc", "SECRET_KEY": "s" * 48, "JWT_SECRET": "j" * 48,
               "ANON_SECRET": "a" * 48}  # fmt: skip
    env = outbox.worker_env(args, secrets)
    assert env["AVENTIDE_ENV"] == "production"
    assert env["CELERY_TASK_ALWAYS_EAGER"] == "false"
    assert env["CELERY_BROKER_URL"] == "redis://127.0.0.1:6379/9"
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/10"
    assert (env["SANDBOX_LATENCY_MS"], env["SANDBOX_FAILURE_MODE"]) == ("0", "none")
    assert env["LOG_LEVEL"] == "WARNING"
    cmd = outbox.worker_command(args)
    assert cmd[cmd.index("-A") + 1] == "bench.outbox_app"
    assert cmd[cmd.index("--concurrency") + 1] == "2"


# --- end to end --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_tiny_outbox_run_end_to_end(tmp_path: Path) -> None:
    """The real harness, tiny: its own database, a real worker, every job exactly once."""
    user = settings.DATABASES["default"].get("USER") or "postgres"
    name = f"test_aventide_outboxbench_{os.getpid()}"
    database_url = f"postgres://{user}@127.0.0.1:5432/{name}"
    redis_url = settings.REDIS_URL
    parts = urlsplit(redis_url)
    assert parts.hostname in {"127.0.0.1", "localhost"}
    # The broker: another Redis database next to the tests' one (db 0..15).
    db = int(parts.path.lstrip("/") or 0)
    broker_url = parts._replace(path=f"/{(db + 1) % 16}").geturl()
    out = tmp_path / "result.json"
    cmd = [
        sys.executable, "-m", "bench.outbox", "--jobs", "40", "--runs", "1", "--warmup", "0",
        "--reset-db", "--database-url", database_url, "--redis-url", redis_url,
        "--broker-url", broker_url, "--json", str(out), "--var-dir", str(tmp_path),
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=110, check=False
        )
    finally:
        _drop_database(user, name)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    (run,) = result["runs"]
    assert run["verify"]["ok"] and run["verify"]["succeeded"] == 40
    assert (run["verify"]["ledger_calls"], run["verify"]["ledger_effects"]) == (40, 40)
    assert run["bare"]["tasks"] == 40 and run["bare"]["rate"] > 0
    assert run["outbox"]["jobs"] == 40 and run["outbox"]["rate"] > 0
    assert run["outbox"]["commit_to_call"]["p95_ms"] > 0
    # The worker's SQL per job is measured: the claim and the settle, one statement each in
    # autocommit (no transaction of their own) -- a regression shows here.
    assert run["outbox"]["queries"]["statements"] == 2
    assert run["outbox"]["queries"]["transactions"] == 0
    assert result["summary"]["verified"] is True
    assert "| bare Celery tasks/s (ceiling) |" in proc.stdout


def _drop_database(user: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        f"postgres://{user}@127.0.0.1:5432/postgres", autocommit=True, connect_timeout=5
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
