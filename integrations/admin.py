"""Staff console for the outbox: jobs (scoped by country) and their DLQ actions.

Read-only for everyone; ops leads and L3 get two actions on dead jobs, each calling the
service (scope, level, state and the audit row live there): replay (same idempotency key,
attempts reset) and discard (the reason typed in the action bar is required). The payload is
shown redacted, like logs.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from aventide.accounts.contracts import ReadOnlyAdminMixin, ScopedAdminMixin, admin_principal
from aventide.core.errors import DomainError
from aventide.core.logging import redact_mapping
from aventide.core.principal import Principal
from integrations import services
from integrations.models import Attempt, Job


def _principal(request: HttpRequest) -> Principal:
    principal = admin_principal(request)
    if principal is None:
        raise PermissionDenied
    return principal


def _dlq_operator(request: HttpRequest) -> bool:
    principal = admin_principal(request)
    return principal is not None and (
        principal.is_superuser or principal.is_ops_lead or principal.has_level("L3")
    )


class DlqActionForm(ActionForm):
    reason = forms.CharField(
        required=False, max_length=500, help_text="Required to discard (kept in the audit)."
    )


class AttemptInline(admin.TabularInline[Attempt, Job]):
    model = Attempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "latency_ms", "outcome", "provider", "error_code", "error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(ReadOnlyAdminMixin, ScopedAdminMixin, admin.ModelAdmin[Job]):
    scope_field = "country_code"
    action_form = DlqActionForm
    actions = ["replay_jobs", "discard_jobs"]  # the DLQ actions; the rest is read-only
    list_display = (
        "id",
        "kind",
        "operation",
        "status",
        "country_code",
        "attempts",
        "last_error_code",
        "next_attempt_at",
        "updated_at",
    )
    list_filter = ("status", "kind", "country_code")
    search_fields = ("=idempotency_key", "=provider_reference")
    exclude = ("payload",)
    inlines = [AttemptInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Job._meta.fields if f.name != "payload"] + ["redacted_payload"]

    @admin.display(description="payload (redacted)")
    def redacted_payload(self, obj: Job) -> str:
        text = json.dumps(redact_mapping(obj.payload or {}), indent=2, sort_keys=True)
        return format_html("<pre>{}</pre>", text)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not _dlq_operator(request):
            actions.pop("replay_jobs", None)
            actions.pop("discard_jobs", None)
        return actions

    @admin.action(description="Replay the selected dead jobs (ops lead, L3)")
    def replay_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        principal = _principal(request)
        done = 0
        for job_id in queryset.values_list("pk", flat=True):
            try:
                services.job_replay(actor=principal, job_id=job_id)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"job {job_id}: {exc.code}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} job(s) replayed.")

    @admin.action(description="Discard the selected dead jobs (reason required)")
    def discard_jobs(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        principal = _principal(request)
        reason = str(request.POST.get("reason", "")).strip()
        done = 0
        for job_id in queryset.values_list("pk", flat=True):
            try:
                services.job_discard(actor=principal, job_id=job_id, reason=reason)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"job {job_id}: {exc.code}", messages.ERROR)
                if exc.code == "DISCARD_REASON_REQUIRED":
                    return
        if done:
            self.message_user(request, f"{done} job(s) discarded.")
