"""Production start-up with push on: the VAPID variables are required and must have the Web
Push form; ENV_VALIDATION_FAILED names the variable, never its value. Push off needs none."""

from __future__ import annotations

import json

import pytest

from aventide.core.env import check_env, validate_env
from tests.core.test_env_validation import (
    VAPID_PRIVATE,
    VAPID_PUBLIC,
    _entry_point,
    production_env,
)


def failure(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    with pytest.raises(SystemExit):
        validate_env(env)
    error: dict[str, object] = json.loads(capsys.readouterr().err)
    return error


def variables(error: dict[str, object]) -> set[str]:
    return {str(v["variable"]) for v in error["variables"]}  # type: ignore[attr-defined]  # JSON: a list of objects


def test_production_push_on_with_valid_vapid_keys_starts() -> None:
    assert check_env(production_env()).ok


@pytest.mark.parametrize("missing", ["VAPID_PUBLIC_KEY", "VAPID_PRIVATE_KEY", "VAPID_SUBJECT"])
def test_production_push_on_without_a_vapid_variable_fails_naming_it(
    missing: str, capsys: pytest.CaptureFixture[str]
) -> None:
    error = failure(production_env(**{missing: None}), capsys)
    assert error["code"] == "ENV_VALIDATION_FAILED"
    assert missing in variables(error)
    text = json.dumps(error)
    assert VAPID_PRIVATE not in text and VAPID_PUBLIC not in text


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("VAPID_PUBLIC_KEY", "BPub-not-a-point-but-a-secret-0123456789"),
        ("VAPID_PUBLIC_KEY", VAPID_PRIVATE),  # the private key pasted as the public one
        ("VAPID_PRIVATE_KEY", VAPID_PUBLIC),  # and the other way round
        ("VAPID_PRIVATE_KEY", "priv-s3cr3t-value!"),
    ],
)
def test_production_malformed_vapid_key_fails_naming_it_not_its_value(
    variable: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    error = failure(production_env(**{variable: value}), capsys)
    assert error["code"] == "ENV_VALIDATION_FAILED"
    assert variable in variables(error)
    assert value not in json.dumps(error)


def test_production_accepts_a_pem_private_key() -> None:
    pem = (
        "-----BEGIN PRIVATE KEY-----\\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\\n"
        "-----END PRIVATE KEY-----"
    )
    assert "VAPID_PRIVATE_KEY" not in variables(
        check_env(production_env(VAPID_PRIVATE_KEY=pem)).as_error()
    )


def test_production_push_off_starts_without_any_vapid_variable() -> None:
    env = production_env(
        ENABLE_PUSH_NOTIFICATIONS="false",
        VAPID_PUBLIC_KEY=None,
        VAPID_PRIVATE_KEY=None,
        VAPID_SUBJECT=None,
    )
    assert check_env(env).ok


def test_legacy_vapid_email_stands_for_the_subject() -> None:
    assert check_env(production_env(VAPID_SUBJECT=None, VAPID_EMAIL="ops@aventide.gift")).ok


_PUSH_ADAPTER = (
    "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'aventide.settings'); "
    "django.setup(); from django.conf import settings; "
    "print(settings.INTEGRATIONS_PROVIDERS['push'])"
)


@pytest.mark.parametrize(
    ("overrides", "adapter"),
    [
        ({"ENABLE_PUSH_NOTIFICATIONS": "true"}, "integrations.providers.push_webpush.WebPush"),
        (
            {"ENABLE_PUSH_NOTIFICATIONS": "false", "VAPID_PRIVATE_KEY": None},
            "integrations.providers.sandbox.SandboxPush",
        ),
    ],
    ids=["flag-on", "flag-off"],
)
def test_production_push_adapter_follows_the_flag(
    overrides: dict[str, str | None], adapter: str
) -> None:
    proc = _entry_point(["-c", _PUSH_ADAPTER], production_env(**overrides))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == adapter
