"""ENV_VALIDATION_FAILED: production rules, names only, entry points exit non-zero."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aventide.core.env import EXIT_CODE, check_env, validate_env, vapid_subject

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-value-that-must-never-be-printed-0123456789"
# A VAPID pair in the Web Push form (manage.py push vapid-keys); test-only keys.
VAPID_PUBLIC = (
    "BFBDLbQ0kEpBhxN8AraZFZnSmncBhhxzXfZTJYLi6nYSLjO7VUhHP1wdKYXwSYVoH8w_yXx4hma8dnAC7eWOIwA"
)
VAPID_PRIVATE = "Ht_O_3Fg1iHXlBKzqzDsNkMB1r1WonkAf4Wg2F-qB-I"


def production_env(**overrides: str | None) -> dict[str, str]:
    env = {
        "AVENTIDE_ENV": "production",
        "SECRET_KEY": SECRET,
        "DATABASE_URL": "postgres://app:pw-db-secret@db.internal:5432/aventide",
        "REDIS_URL": "redis://cache.internal:6379/0",
        "ALLOWED_HOSTS": "api.aventide.gift",
        "JWT_SECRET": SECRET + "-jwt",
        "ANON_SECRET": SECRET + "-anon",
        "VAPID_PUBLIC_KEY": VAPID_PUBLIC,
        "VAPID_PRIVATE_KEY": VAPID_PRIVATE,
        "VAPID_SUBJECT": "mailto:ops@aventide.gift",
        "WEBHOOK_SECRET_PAYMENTS": "whsec-" + SECRET,
        "WEBHOOK_SECRET_COURIER": "courier-" + SECRET,
    }
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def failure(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:
    with pytest.raises(SystemExit) as excinfo:
        validate_env(env)
    assert excinfo.value.code == EXIT_CODE
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, "exactly one structured error line"
    return json.loads(lines[0]), err


def names(error: dict) -> set[str]:
    return {v["variable"] for v in error["variables"]}


def test_validate_env_production_complete_env_passes() -> None:
    assert validate_env(production_env()).ok


@pytest.mark.parametrize(
    ("removed", "expected"),
    [
        ("DATABASE_URL", "DATABASE_URL"),
        ("SECRET_KEY", "SECRET_KEY"),
        ("REDIS_URL", "REDIS_URL"),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS"),
        ("JWT_SECRET", "JWT_SIGNING_KEYS|JWT_SECRET"),
        ("ANON_SECRET", "ANON_SIGNING_KEYS|ANON_SECRET"),
    ],
)
def test_validate_env_production_missing_variable_is_named(
    removed: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    error, raw = failure(production_env(**{removed: None}), capsys)
    assert error["code"] == "ENV_VALIDATION_FAILED"
    assert expected in names(error)
    assert SECRET not in raw and "pw-db-secret" not in raw


def test_validate_env_lists_every_problem_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    env = production_env(DATABASE_URL=None, JWT_SECRET=None, VAPID_PRIVATE_KEY=None)
    error, raw = failure(env, capsys)
    assert {"DATABASE_URL", "JWT_SIGNING_KEYS|JWT_SECRET", "VAPID_PRIVATE_KEY"} <= names(error)
    assert SECRET not in raw


def test_validate_env_production_sqlite_is_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    error, _ = failure(production_env(DATABASE_URL="sqlite:////tmp/x.db"), capsys)
    assert {"variable": "DATABASE_URL", "problem": "invalid"}.items() <= error["variables"][
        0
    ].items()


def test_validate_env_push_on_without_vapid_fails(capsys: pytest.CaptureFixture[str]) -> None:
    env = production_env(VAPID_PUBLIC_KEY=None, VAPID_PRIVATE_KEY=None, VAPID_SUBJECT=None)
    error, raw = failure(env, capsys)
    assert {"VAPID_PUBLIC_KEY", "VAPID_PRIVATE_KEY", "VAPID_SUBJECT"} <= names(error)
    assert SECRET not in raw


def test_validate_env_push_flag_unset_means_on(capsys: pytest.CaptureFixture[str]) -> None:
    env = production_env(VAPID_PRIVATE_KEY=None, ENABLE_PUSH_NOTIFICATIONS=None)
    error, _ = failure(env, capsys)
    assert "VAPID_PRIVATE_KEY" in names(error)


def test_validate_env_legacy_vapid_email_is_accepted() -> None:
    env = production_env(VAPID_SUBJECT=None, VAPID_EMAIL="ops@aventide.gift")
    assert validate_env(env).ok
    assert vapid_subject(env) == "mailto:ops@aventide.gift"


def test_validate_env_push_off_starts_without_vapid() -> None:
    env = production_env(
        ENABLE_PUSH_NOTIFICATIONS="false",
        VAPID_PUBLIC_KEY=None,
        VAPID_PRIVATE_KEY=None,
        VAPID_SUBJECT=None,
    )
    assert validate_env(env).ok


def test_validate_env_short_secret_is_invalid_without_echoing_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    error, raw = failure(production_env(JWT_SECRET="short-but-secret"), capsys)
    assert "JWT_SECRET" in names(error)
    assert "short-but-secret" not in raw


def test_validate_env_key_ring_is_accepted_and_malformed_ring_is_named(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ring = f"k2:{SECRET}-2,k1:{SECRET}-1"
    assert validate_env(production_env(JWT_SECRET=None, JWT_SIGNING_KEYS=ring)).ok
    error, _ = failure(production_env(JWT_SIGNING_KEYS="no-colon-here"), capsys)
    assert "JWT_SIGNING_KEYS" in names(error)


def test_validate_env_development_needs_nothing() -> None:
    assert check_env({}).ok
    assert check_env({"AVENTIDE_ENV": "development"}).ok


def test_validate_env_unknown_environment_is_invalid() -> None:
    report = check_env({"AVENTIDE_ENV": "staging-ish"})
    assert [p.variable for p in report.problems] == ["AVENTIDE_ENV"]


def _entry_point(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS"))}
    clean.update(env)
    clean.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["-c", "import aventide.asgi"],
        ["-m", "aventide.server", "--port", "0"],
        ["manage.py", "check"],
        ["-m", "celery", "-A", "aventide", "report"],
    ],
    ids=["asgi", "server", "manage", "celery"],
)
def test_entry_points_in_production_with_bad_env_exit_non_zero(args: list[str]) -> None:
    proc = _entry_point(args, production_env(DATABASE_URL=None, JWT_SECRET=None))
    assert proc.returncode != 0
    error = json.loads(proc.stderr.strip().splitlines()[-1])
    assert error["code"] == "ENV_VALIDATION_FAILED"
    assert "DATABASE_URL" in names(error)
    assert SECRET not in proc.stderr and SECRET not in proc.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("JWT_ACCESS_TTL_SECONDS", "abc"),
        ("NUM_PROXIES", "x"),
        ("LOG_LEVEL", "verbose"),
        ("THROTTLE_ANON", "lots"),
        ("HEALTH_CHECK_TIMEOUT_SECONDS", "-1"),
        ("DB_CONN_MAX_AGE", "-5"),
    ],
)
def test_validate_env_names_a_badly_typed_variable_without_its_value(
    variable: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    error, raw = failure(production_env(**{variable: value}), capsys)
    assert variable in names(error)
    assert f"'{value}'" not in raw and f'"{value}"' not in raw


def test_badly_typed_variable_in_development_is_named_too() -> None:
    report = check_env({"AVENTIDE_ENV": "development", "JWT_ACCESS_TTL_SECONDS": "15m"})
    assert [p.variable for p in report.problems] == ["JWT_ACCESS_TTL_SECONDS"]


def test_production_needs_the_webhook_secret_of_every_provider_that_may_call_us(
    capsys: pytest.CaptureFixture[str],
) -> None:
    payload, err = failure(production_env(WEBHOOK_SECRET_COURIER=None), capsys)
    assert names(payload) == {"WEBHOOK_SECRET_COURIER"}
    assert SECRET not in err
    # a provider that may not call us needs no secret
    validate_env(
        production_env(WEBHOOK_SECRET_COURIER=None, INTEGRATIONS_WEBHOOK_PROVIDERS="payments")
    )


def test_production_with_the_stripe_adapter_needs_its_api_key(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stripe = "integrations.providers.payments_stripe.StripePayments"
    payload, _ = failure(production_env(INTEGRATIONS_PROVIDER_PAYMENTS=stripe), capsys)
    assert names(payload) == {"STRIPE_API_KEY"}
    validate_env(production_env(INTEGRATIONS_PROVIDER_PAYMENTS=stripe, STRIPE_API_KEY="sk_test_1"))
