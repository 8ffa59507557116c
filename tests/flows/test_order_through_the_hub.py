"""End to end, as production runs it: the ASGI server and a real Celery worker (subprocesses)
on Redis and PostgreSQL, the sandbox payments and courier sending their signed webhooks back
over HTTP, and the email going over SMTP to a local server (aiosmtpd).

create order -> the recipient's invitation reaches the SMTP server and its link authenticates
as the recipient; pay -> payment job -> ``payment.captured`` webhook -> order paid + ledger
capture; accept, dispatch -> courier job -> ``delivered`` webhook -> order delivered.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from aventide.accounts import services as accounts
from aventide.accounts.models import User
from aventide.ledger.models import Transaction
from integrations.models import Job
from tests.ops.live_server import ROOT, free_port, live_server
from tests.ops.test_pool_live import dsn

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PASSWORD = "Corr3ct-Horse-Battery"
WAIT_SECONDS = 90


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(message)
        return "250 Message accepted"


@contextmanager
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


@contextmanager
def celery_worker(tmp_path: Path, env: dict[str, str]) -> Iterator[Path]:
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "aventide",
                "worker",
                "--pool=threads",
                "--concurrency=4",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-Q",
                env["CELERY_TASK_DEFAULT_QUEUE"],
            ],
            cwd=ROOT,
            env={**os.environ, "AVENTIDE_ENV": "test", "PYTHONUNBUFFERED": "1", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while b"ready" not in log_path.read_bytes():
            assert process.poll() is None, log_path.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the Celery worker did not start"
            time.sleep(0.2)
        yield log_path
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait(timeout=10)


def wait_for(what: str, check: Callable[[], Any], logs: Callable[[], str]) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{logs()[-6000:]}")
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_an_order_is_invited_paid_and_delivered_through_the_worker_and_the_webhooks(
    tmp_path: Path, countries: list[str]
) -> None:
    buyer = User.objects.create_user(email="buyer.e2e@t.test", password=PASSWORD, country_code="AR")
    seller = User.objects.create_user(
        email="seller.e2e@t.test", password=PASSWORD, country_code="AR", is_seller=True
    )
    queue = f"e2e-{os.getpid()}-{time.monotonic_ns()}"
    with smtp_server() as (inbox, smtp_port):
        env = {
            "DATABASE_URL": dsn(connection.settings_dict["NAME"]),
            "CELERY_BROKER_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"),
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "CELERY_TASK_DEFAULT_QUEUE": queue,
            "WEB_CONCURRENCY": "1",
            "WEBHOOK_SECRET_PAYMENTS": "whsec-e2e-payments",
            "WEBHOOK_SECRET_COURIER": "whsec-e2e-courier",
            "INTEGRATIONS_PROVIDER_EMAIL": "integrations.providers.email_smtp.SmtpEmail",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_port),
            "SANDBOX_WEBHOOK_DELAY_MS": "0",
            "RECIPIENT_LINK_BASE_URL": "https://gift.example",
        }
        with live_server(tmp_path, env) as server:
            env["SANDBOX_WEBHOOK_BASE_URL"] = server.url
            with celery_worker(tmp_path, env) as worker_log:

                def logs() -> str:
                    return (
                        "--- server ---\n" + server.log()[-3000:] + "\n--- worker ---\n"
                        + worker_log.read_text(errors="replace")[-3000:]
                    )  # fmt: skip

                with httpx.Client(base_url=server.url, timeout=30) as http:
                    _flow(http, buyer, seller, inbox, logs)
                log = logs()
    assert "Traceback" not in log, log


def _login(http: httpx.Client, user: User) -> dict[str, str]:
    """A session as the login endpoint starts it (the test process hashes passwords with a
    fast test hasher, the server with Argon2: the token is what both sides share)."""
    return {
        "Authorization": f"Bearer {accounts.session_start(user=user, method='password').access}"
    }


def _flow(
    http: httpx.Client, buyer: User, seller: User, inbox: Inbox, logs: Callable[[], str]
) -> None:
    as_buyer, as_seller = _login(http, buyer), _login(http, seller)
    listing = http.post(
        "/api/listings", json={"title": "Flores", "priceMinor": 15000}, headers=as_seller
    )
    assert listing.status_code == 201, listing.text
    created = http.post(
        "/api/orders",
        json={
            "listingId": listing.json()["id"],
            "recipient": {"name": "Ana", "email": "ana.e2e@example.com"},
        },
        headers=as_buyer,
    )
    assert created.status_code == 201, created.text
    order_id = created.json()["id"]

    # the invitation reaches the recipient's mailbox; its link authenticates as the recipient
    message = wait_for("the invitation email", lambda: inbox.messages, logs)[0]
    assert message["To"] == "ana.e2e@example.com"
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(
        r"https://gift\.example/gift/([0-9a-f-]{36})#sig=([A-Za-z0-9_\-]+)", body.get_content()
    )
    assert match is not None, body.get_content()
    anon_id, signature = match.groups()
    as_recipient = {"X-Anonymous-Id": anon_id, "X-Anonymous-Signature": signature}
    seen = http.get(f"/api/orders/{order_id}", headers=as_recipient)
    assert (seen.status_code, seen.json()["role"]) == (200, "recipient")
    assert signature not in logs()

    # pay -> payments job on the worker -> signed payment.captured webhook -> paid + capture
    paid = http.post(f"/api/orders/{order_id}/pay", headers=as_buyer)
    assert paid.status_code == 202, paid.text

    def status() -> str:
        return str(http.get(f"/api/orders/{order_id}", headers=as_buyer).json()["status"])

    wait_for("the order to be paid", lambda: status() == "paid", logs)
    capture = Transaction.objects.get(idempotency_key=f"order:{order_id}:capture")
    assert capture.entries.filter(amount_minor=15000).exists()

    # accept, dispatch -> courier job -> signed delivered webhook -> delivered
    assert http.post(f"/api/orders/{order_id}/accept", headers=as_seller).status_code == 200
    assert http.post(f"/api/orders/{order_id}/dispatch", headers=as_seller).status_code == 200
    wait_for("the order to be delivered", lambda: status() == "delivered", logs)
    jobs = dict(
        Job.objects.filter(idempotency_key__startswith=f"order:{order_id}:").values_list(
            "operation", "status"
        )
    )
    assert jobs == {
        "email.send": "succeeded",
        "payment.create": "succeeded",
        "shipment.create": "succeeded",
    }
