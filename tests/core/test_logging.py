"""JSON logs carry requestId and never tokens, cookies, query strings, emails or phones."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from aventide.core import logging as log_module
from aventide.core.logging import REDACTED, is_inert, redact_mapping, redact_text

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("abc.def.ghi", "secret123", "sess-cookie-value-xyz", "maria.lopez@example.com")


def test_redact_mapping_drops_secret_keys_and_masks_values() -> None:
    out = redact_mapping(
        {
            "Authorization": "Bearer abc.def.ghi",
            "password": "hunter2",
            "X-Anonymous-Signature": "sig",
            "refresh_token": "r",
            "body": '{"email": "a@b.co"}',
            "query_string": "token=secret123",
            "path": "/api/orders/1?token=secret123&x=1",
            "note": "call me at +54 9 11 5555-1234 or maria.lopez@example.com",
            "nested": {"cookie": "c", "list": ["joao@exemplo.com.br"]},
            "count": 3,
        }
    )
    assert out["Authorization"] == REDACTED
    assert out["password"] == REDACTED
    assert out["X-Anonymous-Signature"] == REDACTED
    assert out["refresh_token"] == REDACTED
    assert out["body"] == REDACTED
    assert out["query_string"] == REDACTED
    assert out["path"] == f"/api/orders/1?{REDACTED}"
    assert out["note"] == "call me at [phone] or [email]"
    assert out["nested"] == {"cookie": REDACTED, "list": ["[email]"]}
    assert out["count"] == 3


def test_redact_mapping_masks_phone_numbers_stored_as_numbers() -> None:
    out = redact_mapping(
        {"phone": 5491155551234, "recipientPhone": 11987654321, "count": 7, "emailOk": True}
    )
    assert out == {"phone": "[pii]", "recipientPhone": "[pii]", "count": 7, "emailOk": True}


@pytest.mark.parametrize(
    ("text", "leak"),
    [
        ("Cookie: sessionid=abc123sess; csrftoken=tok987", "abc123sess"),
        ("Cookie: sessionid=abc123sess; csrftoken=tok987", "tok987"),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIiOiIxIn0.sig", "eyJzdWIiOiIxIn0"),
        ("GET https://x.test/cb?code=abc&state=1", "code=abc"),
        ("token=secret123 in text", "secret123"),
        ("llámame al 11 4567-8901", "4567-8901"),
        ("me liga: (11) 98765-4321", "98765-4321"),
        ("mail to Joao.Silva+x@Exemplo.COM.br now", "Joao.Silva"),
    ],
)
def test_redact_text_masks_secrets_and_pii(text: str, leak: str) -> None:
    assert leak not in redact_text(text)


def test_redact_text_keeps_dates_and_request_ids() -> None:
    text = "at 2026-11-22 08:38:03 req 9f1c2d3e4b5a69788776655443322110"
    assert redact_text(text) == text


def test_redact_text_keeps_uuids_whole_but_not_a_phone_beside_one() -> None:
    task = "Task integrations.run_job[fffd444a-819a-4423-8123-d4994d680176] succeeded"
    assert redact_text(task) == task
    anon = "anonId=3f2504e0-4f89-11d3-9a0c-0305e82c3301 upper 3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    assert redact_text(anon) == anon
    mixed = "job fffd444a-819a-4423-8123-d4994d680176 for +54 9 11 2345-6789"
    assert redact_text(mixed) == "job fffd444a-819a-4423-8123-d4994d680176 for [phone]"


#: the characters the patterns care about, plus ordinary ones, so generated text is full of
#: near-misses (digit runs, separators, @ ? = and whitespace, "eyJ")
_TRICKY = st.text(
    alphabet=st.sampled_from(list("0123456789abcdefxyzEJyABC_-./:()<>+@?= \t\n#,|é٣")),
    max_size=60,
)


#: what ``datetime.isoformat`` writes: with or without microseconds and a UTC offset
_TIMESTAMPS = st.tuples(
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())), st.sampled_from(["T", " "])
).map(lambda pair: pair[0].isoformat(sep=pair[1]))


@settings(max_examples=3000, deadline=None)
@given(text=st.one_of(_TRICKY, st.text(max_size=40), _TIMESTAMPS))
@example(text="12345678")
@example(text="eyJhbGci.payload")
@example(text="a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90")
@example(text="/api/conversations/<int:conversation_id>/messages")
def test_text_taken_as_inert_is_text_the_patterns_leave_alone(text: str) -> None:
    """The fast path only skips work: whatever it keeps as it is, the full redaction keeps
    too (and a real secret or phone never looks inert)."""
    if is_inert(text):
        assert log_module._redact_text_full(text) == text


@settings(max_examples=500, deadline=None)
@given(moment=_TIMESTAMPS)
@example(moment="2026-12-05T03:56:21.123456+00:00")
@example(moment="2026-12-05 03:56:21.123456-03:00")
def test_timestamps_are_kept_whole_not_masked_as_phones(moment: str) -> None:
    """``21.123456`` is 8 digits: an event's ``createdAt`` went out as ``03:56:[phone]``."""
    assert redact_text(moment) == moment
    assert redact_text(f"at {moment} call +54 9 11 5555-1234") == f"at {moment} call [phone]"


@pytest.mark.parametrize(
    "value",
    [
        "METRIC_HTTP_REQUEST",
        "201",
        "c-1205-1",
        "2026-12-05T03:56:21.123456+00:00",
        "POST",
        "/api/conversations/<int:conversation_id>/messages",
        "message.sent",
        "0956504fa401f23be8e26fa3b284a401f23be8e26fa3b2840956504fa401f23b",
    ],
)
def test_everyday_log_values_take_the_fast_path(value: str) -> None:
    assert is_inert(value)


@pytest.mark.parametrize(
    "value",
    [
        "5491155551234",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
        "a@b.co",
        "/x?token=1",
        "x" * 600,
    ],
)
def test_what_redaction_may_change_never_takes_the_fast_path(value: str) -> None:
    assert not is_inert(value)


@pytest.mark.django_db
def test_request_logs_have_request_id_metric_and_no_secrets(json_logs) -> None:
    """A login whose body is parsed and checked (so code that could log it really runs)."""
    client = APIClient(raise_request_exception=False)
    client.cookies["sessionid"] = "sess-cookie-value-xyz"
    response = client.post(
        "/api/auth/login?token=secret123",
        data=json.dumps({"email": "maria.lopez@example.com", "password": "hunter2-pass"}),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer abc.def.ghi",
        HTTP_X_REQUEST_ID="log-test-1",
    )
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_CREDENTIALS"
    for secret in (*SECRETS, "hunter2-pass"):
        assert secret not in json_logs.text
    metric = json_logs.events("METRIC_HTTP_REQUEST")
    assert len(metric) == 1
    assert metric[0]["requestId"] == "log-test-1"
    assert metric[0]["method"] == "POST"
    assert metric[0]["status"] == "401"
    assert metric[0]["route"] == "/api/auth/login"
    assert isinstance(metric[0]["durationMs"], float)
    assert all(line.get("requestId") == "log-test-1" for line in json_logs.lines)
    assert json_logs.events("METRIC_AUTH_LOGIN_FAILURE")


@pytest.mark.django_db
def test_metric_route_is_the_pattern_not_the_raw_path(json_logs, api_client) -> None:
    api_client.get("/api/schema/?format=json&token=secret123")
    (metric,) = json_logs.events("METRIC_HTTP_REQUEST")
    assert metric["route"] == "/api/schema/"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_real_asgi_server_logs_contain_no_secrets(tmp_path: Path) -> None:
    """Run the real uvicorn launcher; its own lines and ours are JSON and redacted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE", "REDIS"))}
    env.update(
        AVENTIDE_ENV="development",
        DEBUG="false",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        AVENTIDE_VAR_DIR=str(tmp_path),
        CELERY_BROKER_URL="",
        PYTHONUNBUFFERED="1",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = _free_port()
    log_path = tmp_path / "server.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aventide.server", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            else:
                pytest.fail("server did not start: " + log_path.read_text()[-2000:])
            response = httpx.post(
                f"{base}/api/auth/login?token=secret123",
                json={"email": "maria.lopez@example.com", "password": "hunter2-pass"},
                headers={
                    "Authorization": "Bearer abc.def.ghi",
                    "Cookie": "sessionid=sess-cookie-value-xyz",
                    "X-Request-ID": "real-server-1",
                },
                timeout=10,
            )
            assert response.status_code == 401
            assert response.json()["code"] == "INVALID_CREDENTIALS"
            time.sleep(0.3)
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    output = log_path.read_text()
    for secret in (*SECRETS, "hunter2-pass"):
        assert secret not in output, f"{secret!r} leaked into the server log"
    lines = [json.loads(line) for line in output.splitlines() if line.strip()]
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines)
    metric = [
        line
        for line in lines
        if line["event"] == "METRIC_HTTP_REQUEST" and line["requestId"] == "real-server-1"
    ]
    assert len(metric) == 1
    assert metric[0]["route"] == "/api/auth/login"


def test_celery_keeps_the_json_logging(json_logs) -> None:
    """Celery's own set-up is replaced, so task loggers stay JSON and redacted."""
    from celery import signals
    from celery.utils.log import get_task_logger

    import aventide.celery as celery_module

    # With a setup_logging receiver, a worker leaves logging to Django's LOGGING.
    live = signals.setup_logging._live_receivers(None)  # type: ignore[attr-defined]  # private API
    assert celery_module._keep_django_logging in live
    get_task_logger("orders.tasks").warning("mail maria.lopez@example.com token=abc123secret")
    (line,) = [item for item in json_logs.lines if item.get("logger") == "orders.tasks"]
    assert "maria.lopez@example.com" not in json_logs.text
    assert "abc123secret" not in json_logs.text
    assert line["level"] == "warning"


def test_push_off_is_said_at_start_up(json_logs, settings) -> None:
    from aventide.core.logging import log_runtime_flags

    settings.ENABLE_PUSH_NOTIFICATIONS = False
    settings.PUSH_EFFECTIVELY_ENABLED = False
    log_runtime_flags()
    (line,) = json_logs.events("PUSH_DISABLED")
    assert line["reason"] == "ENABLE_PUSH_NOTIFICATIONS=false"
    settings.PUSH_EFFECTIVELY_ENABLED = True
    log_runtime_flags()
    assert len(json_logs.events("PUSH_DISABLED")) == 1


def test_client_faults_log_one_line_without_traceback(settings) -> None:
    """django.security.* (bad Host header, ...) goes through the no-traceback handler."""
    import logging
    import sys

    from aventide.core.logging import DropTraceback

    security = settings.LOGGING["loggers"]["django.security"]
    assert security["handlers"] == ["stdout_no_traceback"]
    handler = settings.LOGGING["handlers"]["stdout_no_traceback"]
    assert handler["filters"] == ["drop_traceback"]
    try:
        raise ValueError("Invalid HTTP_HOST header: 'evil.example'")
    except ValueError:
        record = logging.LogRecord(
            "django.security.DisallowedHost",
            logging.ERROR,
            __file__,
            1,
            "bad host",
            None,
            sys.exc_info(),
        )
    assert DropTraceback().filter(record) is True
    assert record.exc_info is None
    assert record.levelname == "WARNING"
