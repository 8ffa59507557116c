"""Drill 2's recording sandbox providers (chaos/worker_kill_app.py says why and how).

The workers load them by the settings' own switch, ``INTEGRATIONS_PROVIDER_EMAIL=
chaos.worker_kill_providers.RecordingEmail`` and ``INTEGRATIONS_PROVIDER_SMS=...RecordingSms``:
the sandbox adapters unchanged (latency, seeded failure injection, provider ids derived from
the key), plus a record in the drill's Redis of every call and of the effect, which is
deduplicated across processes by idempotency key as a real provider does.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from chaos.worker_kill_app import CALLS, EFFECT_LOG, EFFECTS, marker_of, redis_client
from integrations.providers.kinds import (  # app: the kinds' request types
    CallContext,
    EmailRequest,
    MessageResult,
    SmsRequest,
)
from integrations.providers.sandbox import (  # app: the sandbox adapters and their ids
    SandboxAdapter,
    SandboxConfig,
    SandboxEmail,
    SandboxSms,
    provider_id,
)

__all__ = ["RecordingEmail", "RecordingSms"]


class _Recording(SandboxAdapter):
    """The call and its effect in the drill's Redis, before the sandbox goes on."""

    def _record_call(self, ctx: CallContext, body: str) -> None:
        redis_client().rpush(
            CALLS,
            f"{ctx.idempotency_key} {ctx.attempt} {os.getpid()} {time.time():.6f} "
            f"{marker_of(body)}",
        )

    def _effect(
        self,
        ctx: CallContext,
        prefix: str,
        failure: str | None,
        cfg: SandboxConfig,
        on_first: Callable[[str], None] | None = None,
    ) -> tuple[str, bool]:
        """The sandbox's effect step, kept once per idempotency key across every process
        (``HSETNX``: a provider keeps one effect per key); a ``timeout`` failure still comes
        after it (the provider did it, the answer was lost)."""
        key = ctx.idempotency_key
        reference = provider_id(prefix, self.kind, ctx.operation, key)
        client = redis_client()
        first = bool(client.hsetnx(EFFECTS, f"{self.kind}:{key}", reference))
        client.rpush(EFFECT_LOG, f"{key} {os.getpid()} {time.time():.6f} {int(first)}")
        if first and on_first is not None:
            on_first(reference)
        if failure == "timeout":
            self._fail("timeout", cfg)
        return reference, first


class RecordingEmail(_Recording, SandboxEmail):
    def send(self, request: EmailRequest, ctx: CallContext) -> MessageResult:
        self._record_call(ctx, request.body)
        return super().send(request, ctx)


class RecordingSms(_Recording, SandboxSms):
    def send(self, request: SmsRequest, ctx: CallContext) -> MessageResult:
        self._record_call(ctx, request.body)
        return super().send(request, ctx)
