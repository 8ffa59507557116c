"""Email over SMTP through Django's SMTP backend (``EMAIL_HOST``, ``EMAIL_PORT``, ...).

Always the SMTP backend, whatever ``EMAIL_BACKEND`` says (tests swap that one for locmem):
this adapter *is* the SMTP provider. Classification, as SMTP defines it:

- 4xx reply (greylisting, mailbox busy, too many connections) -> ``TransientProviderError``;
- 5xx reply (no such user, relaying denied, auth failed) -> ``PermanentProviderError``;
- connection refused, reset, dropped, TLS trouble -> ``TransientProviderError``; no answer within
  the call's timeout -> ``ProviderTimeout``.

SMTP has no idempotency key. The message carries a ``Message-ID`` derived from ours (also the
provider reference) and an ``X-Aventide-Idempotency-Key`` header, so a retry after a lost "250"
is recognisable downstream; it may still arrive twice. Error details carry the SMTP code and
class, never the addresses or the server's text (which often echoes them).
"""

from __future__ import annotations

import hashlib
import smtplib
import socket
import ssl

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection

from integrations.providers.base import (
    Kind,
    PermanentProviderError,
    ProviderTimeout,
    TransientProviderError,
)
from integrations.providers.kinds import CallContext, EmailRequest, KindAdapter, MessageResult

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
IDEMPOTENCY_HEADER = "X-Aventide-Idempotency-Key"


def message_id_for(idempotency_key: str) -> str:
    """The Message-ID of the email sent for ``idempotency_key`` (stable across retries)."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]
    domain = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].strip("> ") or "aventide.invalid"
    return f"<{digest}@{domain}>"


def classify_smtp_code(code: int, what: str) -> TransientProviderError | PermanentProviderError:
    """An SMTP reply code as the worker's error: 4xx transient, 5xx (and others) permanent."""
    detail = f"SMTP {code} {what}"
    if 400 <= code < 500:
        return TransientProviderError(detail, status_code=code, code="SMTP_TRANSIENT")
    return PermanentProviderError(detail, status_code=code, code="SMTP_REFUSED")


def classify_smtp_error(exc: BaseException) -> TransientProviderError | PermanentProviderError:
    """What an exception from sending means for the job (no addresses in the detail)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        transient = [c for c in codes if 400 <= c < 500]
        return classify_smtp_code(
            transient[0] if transient else max(codes, default=550), "recipient refused"
        )
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return classify_smtp_code(exc.smtp_code, "sender refused")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return classify_smtp_code(exc.smtp_code, "authentication failed")
    if isinstance(exc, smtplib.SMTPResponseException):
        return classify_smtp_code(exc.smtp_code, exc.__class__.__name__)
    if isinstance(exc, TimeoutError | socket.timeout):
        return ProviderTimeout("SMTP server did not answer in time")
    if isinstance(exc, smtplib.SMTPServerDisconnected) and isinstance(
        exc.__context__, TimeoutError | socket.timeout
    ):
        return ProviderTimeout("SMTP server did not answer in time")  # smtplib wraps it
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientProviderError("SMTP server disconnected", code="SMTP_DISCONNECTED")
    if isinstance(exc, ConnectionRefusedError):
        return TransientProviderError("SMTP connection refused", code="SMTP_UNREACHABLE")
    if isinstance(exc, ssl.SSLError):
        return TransientProviderError("SMTP TLS error", code="SMTP_TLS")
    if isinstance(exc, smtplib.SMTPException | OSError):
        return TransientProviderError(f"SMTP error ({exc.__class__.__name__})", code="SMTP_ERROR")
    return TransientProviderError(f"unexpected {exc.__class__.__name__}")


class SmtpEmail(KindAdapter):
    name = "smtp"
    kind = Kind.EMAIL.value

    def send(self, request: EmailRequest, ctx: CallContext) -> MessageResult:
        timeout = min(float(settings.EMAIL_TIMEOUT or ctx.timeout_seconds), ctx.timeout_seconds)
        reference = message_id_for(ctx.idempotency_key)
        connection = get_connection(
            SMTP_BACKEND,
            fail_silently=False,
            host=settings.EMAIL_HOST,
            port=settings.EMAIL_PORT,
            username=settings.EMAIL_HOST_USER,
            password=settings.EMAIL_HOST_PASSWORD,
            use_tls=settings.EMAIL_USE_TLS,
            use_ssl=settings.EMAIL_USE_SSL,
            timeout=timeout,
        )
        message = EmailMultiAlternatives(
            subject=request.subject,
            body=request.body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[request.to],
            headers={"Message-ID": reference, IDEMPOTENCY_HEADER: ctx.idempotency_key},
            connection=connection,
        )
        if request.html_body:
            message.attach_alternative(request.html_body, "text/html")
        try:
            sent = message.send(fail_silently=False)
        except Exception as exc:  # noqa: BLE001 - every failure is classified, none escapes raw
            raise classify_smtp_error(exc) from None
        if sent != 1:
            raise TransientProviderError("SMTP server accepted no message", code="SMTP_NOT_SENT")
        return MessageResult(reference, "accepted")
