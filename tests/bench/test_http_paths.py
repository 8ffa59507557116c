"""The HTTP paths benchmark harness cannot silently rot.

The pure parts (percentiles, medians of runs, the issue's floors, rendering, profile and
server-log summaries) are checked directly; a ``slow`` smoke runs the real harness end to end
on PostgreSQL + Redis with a tiny request count. These are not performance tests: no figure
is asserted beyond "it measured something and every request answered 2xx".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from bench import report
from bench.http_paths import Plans, Req, _plan_line, paid_orders_needed, parse_args, server_env

ROOT = Path(__file__).resolve().parents[2]


# --- statistics ------------------------------------------------------------------------------


def test_percentile_interpolates_between_closest_ranks() -> None:
    values = [float(v) for v in range(10, 0, -1)]  # 10..1, unsorted on purpose
    assert report.percentile(values, 0) == 1.0
    assert report.percentile(values, 50) == pytest.approx(5.5)
    assert report.percentile(values, 95) == pytest.approx(9.55)
    assert report.percentile(values, 99) == pytest.approx(9.91)
    assert report.percentile(values, 100) == 10.0
    assert report.percentile([7.0], 99) == 7.0


def test_percentile_refuses_no_values_and_out_of_range() -> None:
    with pytest.raises(ValueError, match="no values"):
        report.percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        report.percentile([1.0], 101)


def _run(rps: float, p95: float, errors: int = 0, peak: int = 3, **extra: Any) -> dict[str, Any]:
    base = {
        "requests": 100,
        "rps": rps,
        "p50_ms": p95 / 2,
        "p95_ms": p95,
        "p99_ms": p95 * 1.2,
        "errors": errors,
        "warmup_errors": 0,
        "aborted": None,
        "server_cpu_ms_per_req": 5.0,
        "client_cpu_ms_per_req": 1.0,
        "pg_peak": peak,
    }
    return {**base, **extra}


def test_run_result_summary_reports_percentiles_and_cpu_per_request() -> None:
    run = report.RunResult(
        requests=4,
        elapsed_s=2.0,
        latencies_ms=[10.0, 20.0, 30.0, 40.0],
        server_cpu_s=0.2,
        client_cpu_s=0.04,
        pg_peak=5,
    )
    out = run.summary()
    assert out["rps"] == 2.0
    assert out["p50_ms"] == 25.0
    assert out["server_cpu_ms_per_req"] == 50.0
    assert out["client_cpu_ms_per_req"] == 10.0
    assert out["pg_peak"] == 5


def test_aggregate_takes_medians_sums_errors_and_keeps_the_highest_peak() -> None:
    runs = [
        _run(100, 30, peak=4),
        _run(300, 10, errors=2, peak=9),
        _run(200, 20, peak=6, warmup_errors=1),
    ]
    point = report.aggregate("me", 16, runs)
    assert point["rps"] == 200
    assert point["p95_ms"] == 20
    assert point["errors"] == 3  # 2 measured + 1 warm-up
    assert point["pg_peak"] == 9
    assert point["label"] == "GET /api/auth/me"


def _points(me: float, bare: float, cancel: float, cancel_p95: float, errors: int = 0) -> list:
    return [
        report.aggregate("me", 16, [_run(me, 50)]),
        report.aggregate("bare-async", 16, [_run(bare, 10)]),
        report.aggregate("bare-sync", 16, [_run(bare / 2, 10)]),
        report.aggregate("cancel", 16, [_run(cancel, cancel_p95, errors=errors)]),
    ]


def _check(rows: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    return next(r for r in rows if r["name"].startswith(prefix))


def test_floors_pass_when_the_issue_targets_are_met() -> None:
    rows = report.floors(_points(700, 1000, 160, 140), {"commits_per_s": 1600.0})
    assert _check(rows, "/api/auth/me at 16 clients vs the bare async")["value"] == 0.7
    assert _check(rows, "/api/auth/me at 16 clients vs the bare async")["ok"] is True
    assert _check(rows, "cancel at 16 clients: req/s")["ok"] is True
    assert _check(rows, "cancel at 16 clients: p95")["ok"] is True
    assert _check(rows, "cancel at 16 clients vs raw psycopg")["value"] == 0.1
    assert _check(rows, "non-2xx")["ok"] is True


def test_floors_fail_on_slow_paths_and_on_any_error() -> None:
    rows = report.floors(_points(400, 1000, 22, 1070, errors=1), None)
    assert _check(rows, "/api/auth/me at 16 clients vs the bare async")["ok"] is False
    assert _check(rows, "cancel at 16 clients: req/s")["ok"] is False
    assert _check(rows, "cancel at 16 clients: p95")["ok"] is False
    assert _check(rows, "non-2xx")["ok"] is False
    assert _check(rows, "cancel at 16 clients vs raw psycopg")["value"] is None


def test_floors_are_not_applicable_without_the_16_client_points() -> None:
    rows = report.floors([report.aggregate("me", 1, [_run(50, 20)])], None)
    assert _check(rows, "/api/auth/me at 16 clients vs the bare async")["ok"] is None
    assert _check(rows, "cancel at 16 clients: req/s")["ok"] is None


def test_floors_check_the_connection_bound_when_given() -> None:
    rows = report.floors(_points(700, 1000, 160, 140), None, max_pg_connections=8)
    assert _check(rows, "peak PostgreSQL")["value"] == 3
    assert _check(rows, "peak PostgreSQL")["ok"] is True


def test_an_aborted_run_fails_the_error_check() -> None:
    points = [report.aggregate("me", 16, [_run(50, 20, aborted="guard")])]
    assert _check(report.floors(points, None), "non-2xx")["ok"] is False


# --- rendering -------------------------------------------------------------------------------


def test_render_table_has_one_row_per_point_with_the_query_counts() -> None:
    points = _points(700, 1000, 160, 140, errors=2)
    queries = {"me": {"queries": 1, "statements": 1}, "cancel": {"queries": 30, "statements": 35}}
    table = report.render_table(points, queries).splitlines()
    assert table[0].startswith("| endpoint | clients | req/s | p50 ms | p95 ms | p99 ms")
    assert len(table) == 2 + len(points)
    me_row = next(line for line in table if line.startswith("| GET /api/auth/me"))
    assert "| 700.0 |" in me_row
    assert me_row.endswith("| 1 (1) |")
    cancel_row = next(line for line in table if line.startswith("| POST /api/orders/{id}/cancel"))
    assert "| 2 |" in cancel_row
    assert cancel_row.endswith("| 30 (35) |")
    assert "| bare Django view (async) | 16 |" in "\n".join(table)


def test_render_floors_marks_misses_loudly() -> None:
    text = report.render_floors(report.floors(_points(400, 1000, 22, 1070), None))
    assert "**NO**" in text
    assert "| non-2xx responses, all runs | 0 | == 0 | yes |" in text


def test_render_errors_shows_the_first_bodies_with_their_request_ids() -> None:
    run = _run(10, 100, errors=1, status_counts={"200": 99, "500": 1})
    run["error_samples"] = [
        {
            "status": 500,
            "method": "POST",
            "path": "/api/orders/7/cancel",
            "request_id": "bench-cancel-c16-r1-3",
            "body": '{"code":"INTERNAL_ERROR"}',
        }
    ]
    text = report.render_errors([("cancel", 16, run)])
    assert "cancel at 16 clients: 1 of 100 measured requests failed" in text
    assert "500 POST /api/orders/7/cancel requestId=bench-cancel-c16-r1-3" in text
    assert "INTERNAL_ERROR" in text
    assert report.render_errors([("me", 1, _run(10, 10))]) == ""


def test_render_psycopg_names_the_shape_of_the_ceiling() -> None:
    text = report.render_psycopg(
        {
            "commits_per_s": 1571.2,
            "connections": 8,
            "transactions": 4000,
            "runs": [{}, {}, {}],
            "p50_ms": 4.1,
            "p95_ms": 9.9,
        }
    )
    assert "1,571.2 commits/s" in text
    assert "8 connections" in text
    assert "3 INSERTs + COMMIT" in text


def test_top_frames_counts_self_and_inclusive_shares_over_threads() -> None:
    root = str(ROOT)
    speedscope = {
        "shared": {
            "frames": [
                {"name": "handle", "file": f"{root}/aventide/core/middleware.py", "line": 74},
                {"name": "execute", "file": "/x/site-packages/django/db/utils.py", "line": 1},
                {"name": "wait", "file": "/x/site-packages/psycopg/connection.py", "line": 2},
            ]
        },
        "profiles": [
            {"samples": [[0, 1, 2], [0, 1], [0]], "weights": [1, 1, 1]},
            {"samples": [[0, 1, 2]], "weights": [1]},
        ],
    }
    top = report.top_frames(speedscope)
    self_share = dict(top["self"])
    assert self_share["wait (psycopg/connection.py)"] == 50.0
    assert self_share["execute (django/db/utils.py)"] == 25.0
    assert dict(top["inclusive"])["handle (aventide/core/middleware.py)"] == 100.0
    assert dict(top["inclusive"])["execute (django/db/utils.py)"] == 75.0
    assert top["app_inclusive"] == [("handle (aventide/core/middleware.py)", 100.0)]
    assert dict(top["packages_self"]) == {"psycopg": 50.0, "django": 25.0, "aventide/core": 25.0}
    assert "self time by package" in report.render_profile(top)


def test_top_frames_merges_the_lines_of_one_function() -> None:
    speedscope = {
        "shared": {
            "frames": [
                {"name": "run", "file": "/x/site-packages/asgiref/sync.py", "line": 10},
                {"name": "run", "file": "/x/site-packages/asgiref/sync.py", "line": 12},
            ]
        },
        "profiles": [{"samples": [[0], [1]], "weights": [1, 1]}],
    }
    assert report.top_frames(speedscope)["self"] == [("run (asgiref/sync.py)", 100.0)]


def test_server_errors_groups_error_lines_and_finds_the_sampled_requests() -> None:
    def line(rid: str, exc: str) -> str:
        return json.dumps(
            {
                "event": "UNHANDLED_EXCEPTION",
                "level": "error",
                "requestId": rid,
                "exception": f"Traceback (most recent call last):\n  ...\n{exc}\n",
            }
        )

    lines = [
        line("bench-a-1", "AttributeError: Direct status modification is not allowed"),
        line("bench-a-2", "AttributeError: Direct status modification is not allowed"),
        line("bench-b-1", "OperationalError: too many clients already"),
        json.dumps({"event": "METRIC_HTTP_REQUEST", "level": "info", "requestId": "bench-a-1"}),
        "not json",
    ]
    found = report.server_errors(lines, ["bench-b-1"])
    assert found["by_exception"][0] == (
        "UNHANDLED_EXCEPTION: AttributeError: Direct status modification is not allowed",
        2,
    )
    assert found["requests"] == {
        "bench-b-1": ["UNHANDLED_EXCEPTION: OperationalError: too many clients already"]
    }
    assert "too many clients already" in report.render_server_errors(found)


def test_a_saved_run_renders_as_the_markdown_the_readme_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    points = _points(400.0, 1000.0, 22.0, 1070.0)
    saved = {
        "started_at": "2026-12-02T16:07:13+00:00",
        "commit": "e6439df",
        "machine": {"nproc": 2, "loadavg_start": [9.0], "loadavg_end": [8.0]},
        "settings": {"WEB_CONCURRENCY": "1", "DB_CONN_MAX_AGE": "0"},
        "options": {"workers": 1, "requests": 2000, "runs": 3, "warmup": 50},
        "points": points,
        "queries": {"me": {"queries": 1, "statements": 1}},
        "ceilings": {
            "psycopg": {
                "commits_per_s": 1200.0,
                "connections": 8,
                "transactions": 4000,
                "runs": [{}],
                "p50_ms": 4.0,
                "p95_ms": 9.0,
            }
        },
        "floors": report.floors(points, {"commits_per_s": 1200.0}),
    }
    path = tmp_path / "run.json"
    path.write_text(json.dumps(saved))
    assert report.main([str(path)]) == 0
    text = capsys.readouterr().out
    assert "commit `e6439df`" in text
    assert "DB_CONN_MAX_AGE=0" in text
    assert "| GET /api/auth/me | 16 | 400.0 |" in text
    assert "1,200.0 commits/s" in text
    assert "| cancel at 16 clients: req/s | 22.0 | >= 150 | **NO** |" in text


# --- harness plumbing (no I/O) -----------------------------------------------------------------


def test_quick_defaults_and_the_paid_orders_the_cancel_points_need() -> None:
    args = parse_args(["--quick", "--endpoints", "me,cancel", "--profile", "cancel"])
    assert (args.requests, args.runs, args.warmup) == (200, 1, 10)
    assert args.clients == [1, 16]
    # 2 points x 1 run x (10 + 200) + the profiled run (10 + 200)
    assert paid_orders_needed(args) == 2 * 210 + 210
    full = parse_args([])
    assert (full.requests, full.runs) == (2000, 3)
    assert full.selected == ["me", "orders", "create", "cancel", "bare", "psycopg"]


def test_wrk_needs_a_tail_of_paid_orders_per_phase_and_says_so_in_the_results() -> None:
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install -y wrk)")
    args = parse_args(
        ["--quick", "--endpoints", "cancel", "--profile", "cancel", "--generator", "wrk"]
    )
    assert args.generator == "wrk"
    # 2 points x 1 run x (10 + 200 + a tail of one request per client in each of 2 phases),
    # + the profiled run (10 + 200 + 2 tails of 16)
    assert paid_orders_needed(args) == (210 + 2 * 1) + (210 + 2 * 16) + (210 + 2 * 16)
    assert parse_args([]).generator == "httpx"  # the default, the fallback


def test_a_wrk_plan_line_carries_the_request_its_token_id_and_body() -> None:
    line = _plan_line(Req("POST", "/api/orders/7/cancel", "tok", {"reason": "bench"}), "bench-x-1")
    assert line.split("\t") == [
        "POST",
        "/api/orders/7/cancel",
        "tok",
        "bench-x-1",
        '{"reason":"bench"}',
    ]
    assert _plan_line(Req("GET", "/bare/async"), "r").split("\t") == [
        "GET",
        "/bare/async",
        "-",
        "r",
        "-",
    ]


def test_the_harness_refuses_anything_but_loopback() -> None:
    with pytest.raises(SystemExit, match=r"127\.0\.0\.1"):
        parse_args(["--database-url", "postgres://postgres@db.example.com:5432/aventide_bench"])


def test_server_env_is_production_with_generated_secrets_and_the_worker_count() -> None:
    args = parse_args(["--workers", "3", "--env", "DB_CONN_MAX_AGE=0"])
    secrets = {"run_id": "abc", "SECRET_KEY": "s" * 48, "JWT_SECRET": "j" * 48,
               "ANON_SECRET": "a" * 48}  # fmt: skip
    env = server_env(args, secrets)
    assert env["AVENTIDE_ENV"] == "production"
    assert env["DEBUG"] == "false"
    assert env["WEB_CONCURRENCY"] == "3"
    assert env["ALLOWED_HOSTS"] == "127.0.0.1"
    assert env["ENABLE_PUSH_NOTIFICATIONS"] == "false"
    assert env["DATABASE_URL"].endswith("/aventide_bench")
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/14"
    assert env["DB_CONN_MAX_AGE"] == "0"
    assert env["JWT_SECRET"] == "j" * 48
    assert "DJANGO_SETTINGS_MODULE" not in env


def test_each_cancel_uses_a_distinct_paid_order_alternating_seller_and_buyer() -> None:
    seed = {
        "pairs": [
            {"buyer_token": "b0", "seller_token": "s0", "listing_id": 1},
            {"buyer_token": "b1", "seller_token": "s1", "listing_id": 2},
        ],
        "reader_token": "r",
    }
    plans = Plans(seed, [(10, 0), (11, 1), (12, 0), (13, 1)])
    first, second = plans.build("cancel", 2), plans.build("cancel", 2)
    paths = [r.path for r in first + second]
    assert paths == [f"/api/orders/{i}/cancel" for i in (10, 11, 12, 13)]
    assert [r.token for r in first + second] == ["s0", "b1", "s0", "b1"]
    with pytest.raises(SystemExit, match="ran out of paid orders"):
        plans.build("cancel", 1)
    creates = plans.build("create", 2)
    assert [r.body["listingId"] for r in creates if r.body] == [1, 2]
    assert [r.token for r in creates] == ["b0", "b1"]


# --- end to end --------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_quick_smoke_of_one_endpoint_end_to_end(tmp_path: Path) -> None:
    """The real harness, tiny: its own database, the production server, 2xx only."""
    user = settings.DATABASES["default"].get("USER") or "postgres"
    name = f"test_aventide_httpbench_{os.getpid()}"
    database_url = f"postgres://{user}@127.0.0.1:5432/{name}"
    redis_url = settings.REDIS_URL
    assert urlsplit(redis_url).hostname in {"127.0.0.1", "localhost"}
    out = tmp_path / "result.json"
    cmd = [
        sys.executable, "-m", "bench.http_paths", "--quick", "--endpoints", "me",
        "--concurrency", "1,2", "--requests", "20", "--warmup", "2", "--no-ceilings",
        "--no-collectstatic", "--reset-db", "--database-url", database_url,
        "--redis-url", redis_url, "--json", str(out), "--var-dir", str(tmp_path),
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=90, check=False
        )
    finally:
        _drop_database(user, name)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    points = {(p["endpoint"], p["clients"]): p for p in result["points"]}
    assert set(points) == {("me", 1), ("me", 2)}
    for point in points.values():
        assert point["errors"] == 0
        assert point["requests_per_run"] == 20
        assert point["rps"] > 0
        assert point["server_cpu_ms_per_req"] > 0
        assert point["pg_peak"] >= 1
    assert result["queries"]["me"]["status"] == 200
    # A warm /api/auth/me is served from the principal cache (AUTH_PRINCIPAL_CACHE_SECONDS):
    # the count is measured, and a regression that reads the user again shows up here.
    assert result["queries"]["me"]["queries"] == 0
    assert result["queries"]["me"]["statements"] == 0
    assert result["settings"]["AVENTIDE_ENV"] == "production"
    assert "| GET /api/auth/me | 2 |" in proc.stdout


def _drop_database(user: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        f"postgres://{user}@127.0.0.1:5432/postgres", autocommit=True, connect_timeout=5
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_the_instruction_counter_sender_runs_end_to_end(tmp_path: Path) -> None:
    """bench/instructions.py's sender (without valgrind, which CI does not install): its own
    database, production settings, chat sends through the ASGI app, every one a 201."""
    user = settings.DATABASES["default"].get("USER") or "postgres"
    name = f"test_aventide_instrbench_{os.getpid()}"
    out = tmp_path / "result.json"
    cmd = [
        sys.executable, "-m", "bench.instructions", "--no-valgrind", "--sends", "6",
        "--concurrency", "2", "--reset-db", "--database-url",
        f"postgres://{user}@127.0.0.1:5432/{name}", "--redis-url", settings.REDIS_URL,
        "--var-dir", str(tmp_path), "--json", str(out),
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
        )
    finally:
        _drop_database(user, name)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["unit"] == "CPU ms per send"
    [(checkout, runs)] = result["runs"].items()
    assert Path(checkout) == ROOT
    assert len(runs) == 1 and runs[0] > 0
    assert "CPU ms per send" in proc.stdout
