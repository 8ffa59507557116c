"""The launcher's variables (HOST, PORT, WEB_CONCURRENCY) and every other typed variable: an
empty or garbage value stops `python -m aventide.server` with ONE ``ENV_VALIDATION_FAILED``
line naming the variable -- never a traceback -- in every environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aventide.core.env import EXIT_CODE, check_env

ROOT = Path(__file__).resolve().parents[2]


def _launch(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE", "REDIS", "DJANGO_SETTINGS"))
        and k not in {"HOST", "PORT", "WEB_CONCURRENCY"}
    }
    clean.update({"AVENTIDE_ENV": "development", **env})
    return subprocess.run(
        [sys.executable, "-m", "aventide.server", *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PORT", ""),
        ("PORT", "   "),
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("PORT", "-1"),
        ("PORT", "80.5"),
        ("PORT", "\u00b2"),  # SUPERSCRIPT TWO: str.isdigit() is True, int() fails
        ("WEB_CONCURRENCY", ""),
        ("WEB_CONCURRENCY", "0"),
        ("WEB_CONCURRENCY", "many"),
        ("HOST", ""),
        ("HOST", "local host"),
        ("HOST", "http://0.0.0.0"),
        ("HOST", "-bad-"),
    ],
)
def test_launcher_bad_value_is_one_env_validation_line(variable: str, value: str) -> None:
    proc = _launch({variable: value}, "--help")
    assert proc.returncode == EXIT_CODE, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    error = json.loads(lines[0])
    assert error["code"] == "ENV_VALIDATION_FAILED"
    assert [v["variable"] for v in error["variables"]] == [variable]
    assert proc.stdout == ""


@pytest.mark.parametrize(
    "env",
    [
        # more than one web process needs Redis (the channel layer is per process)
        {
            "PORT": "8000",
            "HOST": "127.0.0.1",
            "WEB_CONCURRENCY": "2",
            "REDIS_URL": "redis://127.0.0.1:6379/15",
        },
        {"PORT": " 0 ", "HOST": "::1"},
        {"HOST": "localhost"},
        {"HOST": "api.internal.example"},
        {},
    ],
)
def test_launcher_good_values_reach_the_argument_parser(env: dict[str, str]) -> None:
    proc = _launch(env, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "--port" in proc.stdout


@pytest.mark.parametrize(
    "variable",
    [
        "NUM_PROXIES",
        "JWT_ACCESS_TTL_SECONDS",
        "GOOGLE_JWKS_TIMEOUT_SECONDS",
        "HEALTH_CHECK_TIMEOUT_SECONDS",
        "THROTTLE_ANON",
        "LOG_LEVEL",
    ],
)
def test_validate_env_empty_typed_variable_is_named(variable: str) -> None:
    """Set-but-empty typed variables crashed the settings import (int('')) before."""
    report = check_env({"AVENTIDE_ENV": "development", variable: ""})
    assert [p.variable for p in report.problems] == [variable]
    assert "empty" in report.problems[0].hint


def test_validate_env_non_finite_timeout_is_invalid() -> None:
    for value in ("nan", "inf"):
        report = check_env({"GOOGLE_JWKS_TIMEOUT_SECONDS": value})
        assert [p.variable for p in report.problems] == ["GOOGLE_JWKS_TIMEOUT_SECONDS"]


def test_manage_py_with_an_empty_typed_variable_fails_without_traceback() -> None:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS"))}
    clean.update({"AVENTIDE_ENV": "development", "JWT_LEEWAY_SECONDS": ""})
    clean.pop("DJANGO_SETTINGS_MODULE", None)
    proc = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == EXIT_CODE
    assert "Traceback" not in proc.stderr
    error = json.loads(proc.stderr.strip().splitlines()[-1])
    assert [v["variable"] for v in error["variables"]] == ["JWT_LEEWAY_SECONDS"]
