"""The catchup benchmark harness cannot silently rot: its pure parts directly, and a ``slow``
smoke of the real harness end to end at a tiny size (no figure asserted beyond "it measured
something and every request answered 2xx")."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from bench.catchup import TARGETS, parse_args, plan, render

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_issues_sizes_and_targets() -> None:
    args = parse_args([])
    assert args.sizes == [100_000, 1_000_000]
    assert args.streams == 10_000
    assert args.limits == [100, 500]
    assert (args.runs, args.requests) == (3, 500)
    assert TARGETS == {100: 15.0, 500: 50.0}


def test_sizes_must_grow() -> None:
    with pytest.raises(SystemExit, match="ascending"):
        parse_args(["--sizes", "1000,100"])


def test_every_planned_cursor_has_a_full_page_after_it() -> None:
    ids = list(range(10, 1000, 3))
    reqs = plan(ids, 100, 200, "t", random.Random(1))
    for req in reqs:
        since = int(req.path.split("since=")[1].split("&")[0])
        assert sum(1 for i in ids if i > since) >= 100
        assert req.path.endswith("&limit=100") and req.token == "t"
    with pytest.raises(SystemExit, match="fewer than limit"):
        plan(ids[:50], 100, 1, "t", random.Random(1))


def test_render_marks_a_missed_target() -> None:
    point = {"events": 1000, "limit": 100, "clients": 1, "p50_ms": 5.0, "p95_ms": 20.0,
             "p99_ms": 30.0, "rps": 100.0, "server_cpu_ms_per_req": 4.0, "errors": 0,
             "target_p95_ms": 15.0}  # fmt: skip
    text = render([point, {**point, "p95_ms": 9.0}])
    assert "| 1,000 | 100 | 1 | 5.0 | 20.0 |" in text
    assert "| <= 15 ms | **NO** |" in text
    assert "| <= 15 ms | yes |" in text


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.redis
def test_quick_smoke_end_to_end(tmp_path: Path) -> None:
    """The real harness, tiny: its own database, the production server, 2xx only."""
    user = settings.DATABASES["default"].get("USER") or "postgres"
    name = f"test_aventide_catchupbench_{os.getpid()}"
    database_url = f"postgres://{user}@127.0.0.1:5432/{name}"
    redis_url = settings.REDIS_URL
    assert urlsplit(redis_url).hostname in {"127.0.0.1", "localhost"}
    out = tmp_path / "result.json"
    cmd = [
        sys.executable, "-m", "bench.catchup", "--quick", "--sizes", "3000,6000",
        "--limits", "10,20", "--requests", "10", "--warmup", "2", "--reset-db",
        "--database-url", database_url, "--redis-url", redis_url, "--json", str(out),
        "--var-dir", str(tmp_path),
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            cmd, cwd=ROOT, capture_output=True, text=True, timeout=240, check=False
        )
    finally:
        _drop_database(user, name)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(out.read_text())
    assert [load["events"] for load in result["loads"]] == [3000, 6000]
    assert [load["inbox_rows"] for load in result["loads"]] == [12000, 24000]
    points = {(p["events"], p["limit"]): p for p in result["points"]}
    assert set(points) == {(3000, 10), (3000, 20), (6000, 10), (6000, 20)}
    for point in points.values():
        assert point["errors"] == 0
        assert point["p95_ms"] > 0
    assert result["settings"]["AVENTIDE_ENV"] == "production"
    assert "| 6,000 | 20 | 1 |" in proc.stdout


def _drop_database(user: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        f"postgres://{user}@127.0.0.1:5432/postgres", autocommit=True, connect_timeout=5
    ) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
