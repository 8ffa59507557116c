"""A database that cannot be reached is reported as such, not as a busy pool."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
def test_a_command_against_a_missing_database_names_the_cause() -> None:
    env = {
        **os.environ,
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/aventide_no_such_database",
        "AVENTIDE_ENV": "test",
        "DB_POOL_TIMEOUT_SECONDS": "2",
    }
    proc = subprocess.run(
        [sys.executable, "manage.py", "showmigrations", "audit"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert 'database "aventide_no_such_database" does not exist' in proc.stderr
    assert "DatabaseBusy" not in proc.stderr and "busy right now" not in proc.stderr
