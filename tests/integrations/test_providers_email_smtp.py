"""Email over SMTP through Django's backend, against a real local SMTP server (aiosmtpd):
the message arrives with a Message-ID from our key, and SMTP replies classify as SMTP means
them (4xx transient, 5xx permanent, no server / no answer transient) with no address leaked."""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from integrations.providers.base import (
    Call,
    PermanentProviderError,
    ProviderTimeout,
    TransientProviderError,
)
from integrations.providers.email_smtp import IDEMPOTENCY_HEADER, SmtpEmail, message_id_for

RECIPIENT = "ana.recipient@example.com"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


class Handler:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.rcpt_reply = ""
        self.data_reply = ""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.data_reply:
            return self.data_reply
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 Message accepted"


@pytest.fixture
def smtp(settings: Any) -> Iterator[Handler]:
    handler = Handler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "Aventide Gift <no-reply@aventide.gift>"
    try:
        yield handler
    finally:
        controller.stop()


def send(key: str = "order:42:invite", timeout: float = 5.0, **payload: Any) -> Call:
    return Call(
        kind="email",
        operation="email.send",
        payload={
            "to": RECIPIENT,
            "subject": "A gift is on its way",
            "body": "Follow your gift: https://aventide.gift/r/abc",
            **payload,
        },
        idempotency_key=key,
        country_code="AR",
        timeout_seconds=timeout,
    )


def test_the_message_reaches_the_smtp_server_with_a_message_id_from_our_key(
    smtp: Handler,
) -> None:
    outcome = SmtpEmail().execute(send(html_body="<p>Follow your gift</p>"))
    [message] = smtp.messages
    assert smtp.envelopes == [("no-reply@aventide.gift", [RECIPIENT])]
    assert message["Subject"] == "A gift is on its way"
    assert message["To"] == RECIPIENT
    assert message["Message-ID"] == outcome.provider_reference == message_id_for("order:42:invite")
    assert message[IDEMPOTENCY_HEADER] == "order:42:invite"
    assert message.is_multipart()  # text + html alternative
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and "https://aventide.gift/r/abc" in text.get_content()
    assert outcome.data == {"status": "accepted"}


def test_a_retry_carries_the_same_message_id(smtp: Handler) -> None:
    first = SmtpEmail().execute(send())
    again = SmtpEmail().execute(send())
    other = SmtpEmail().execute(send(key="order:43:invite"))
    assert first.provider_reference == again.provider_reference != other.provider_reference
    ids = [m["Message-ID"] for m in smtp.messages]
    assert ids == [first.provider_reference, first.provider_reference, other.provider_reference]


@pytest.mark.parametrize(
    ("where", "reply", "error", "status"),
    [
        ("rcpt", f"450 4.2.1 Mailbox {RECIPIENT} busy, try later", TransientProviderError, 450),
        ("rcpt", "452 4.5.3 Too many recipients", TransientProviderError, 452),
        ("rcpt", f"550 5.1.1 No such user {RECIPIENT}", PermanentProviderError, 550),
        ("rcpt", "554 5.7.1 Relaying denied", PermanentProviderError, 554),
        ("data", "451 4.3.0 Local error in processing", TransientProviderError, 451),
        ("data", f"552 5.3.4 Message for {RECIPIENT} too big", PermanentProviderError, 552),
    ],
)
def test_smtp_replies_classify_4xx_transient_5xx_permanent_without_addresses(
    smtp: Handler,
    where: str,
    reply: str,
    error: type[Exception],
    status: int,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    setattr(smtp, f"{where}_reply", reply)
    with pytest.raises(error) as exc:
        SmtpEmail().execute(send())
    err = exc.value
    assert type(err) is error
    assert err.status_code == status  # type: ignore[attr-defined]
    assert err.code == ("SMTP_TRANSIENT" if status < 500 else "SMTP_REFUSED")  # type: ignore[attr-defined]
    ours = [r.getMessage() for r in caplog.records if not r.name.startswith("mail.log")]
    assert RECIPIENT not in str(err) and not any(RECIPIENT in line for line in ours)
    assert smtp.messages == []


def test_connection_refused_is_transient(settings: Any) -> None:
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    with pytest.raises(TransientProviderError) as exc:
        SmtpEmail().execute(send())
    assert exc.value.code == "SMTP_UNREACHABLE"


def test_a_server_that_never_answers_is_a_timeout_within_the_call_timeout(settings: Any) -> None:
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    accepted: list[socket.socket] = []
    acceptor = threading.Thread(target=lambda: accepted.append(silent.accept()[0]), daemon=True)
    acceptor.start()
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", silent.getsockname()[1]
    settings.EMAIL_TIMEOUT = 30  # the job's own timeout is shorter and wins
    try:
        started = time.monotonic()
        with pytest.raises(ProviderTimeout):
            SmtpEmail().execute(send(timeout=0.3))
        assert 0.3 <= time.monotonic() - started < 2.0
    finally:
        acceptor.join(1)
        for conn in accepted:
            conn.close()
        silent.close()


def test_the_adapter_uses_smtp_even_when_django_email_backend_is_locmem(
    smtp: Handler, settings: Any
) -> None:
    from django.core import mail

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    SmtpEmail().execute(send())
    assert len(smtp.messages) == 1
    assert getattr(mail, "outbox", []) == []
