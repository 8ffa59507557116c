"""Staff console for the order chat: conversations, messages, strikes and the reports queue.

Everything is read-only and scoped by country (``ScopedAdminMixin``: staff of AR never see
MX rows). State changes are actions that call the services -- freeze, unfreeze, close,
transcript export, resolve a report -- which check scope, write the audit row and publish the
events; a refusal (``DomainError``) is shown to the staff member with its code. django-fsm-2's
admin mixin is not used: it would call the transitions directly, skipping the services.

Messages show the delivered text and, for redacted ones, the original (staff only: this
admin is the only place besides the transcript where staff read it).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Case, Count, IntegerField, OuterRef, QuerySet, Subquery, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join

from aventide.accounts.contracts import ReadOnlyAdminMixin, ScopedAdminMixin, admin_principal
from aventide.core.errors import DomainError
from aventide.core.principal import Principal
from messaging import services
from messaging.models import (
    AbuseReport,
    Conversation,
    FreezeReason,
    Message,
    ReportStatus,
    Strike,
)


def _principal(request: HttpRequest) -> Principal:
    principal = admin_principal(request)
    if principal is None:  # the admin site only lets active staff in
        raise PermissionDenied
    return principal


def _conversation_link(conversation_id: int) -> str:
    url = reverse("admin:messaging_conversation_change", args=[conversation_id])
    return format_html('<a href="{}">conversation {}</a>', url, conversation_id)


class MessageInline(admin.TabularInline[Message, Conversation]):
    """The conversation's messages in seq order, read-only (WORM in the database anyway)."""

    model = Message
    extra = 0
    can_delete = False
    ordering = ("seq",)
    fields = (
        "seq",
        "created_at",
        "kind",
        "sender_role",
        "verdict",
        "reasons",
        "body",
        "original_body",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdminMixin, ScopedAdminMixin, admin.ModelAdmin[Conversation]):
    scope_field = "country_code"
    actions = [
        "freeze_conversations",
        "unfreeze_conversations",
        "close_conversations",
        "export_transcript_json",
        "export_transcript_html",
    ]
    list_display = (
        "id",
        "order_id",
        "country_code",
        "state",
        "activation_reason",
        "freeze_reason",
        "last_seq",
        "open_reports",
        "last_message_at",
    )
    list_filter = ("state", "country_code", "freeze_reason")
    search_fields = ("=id", "=order__id")
    date_hierarchy = "created_at"
    inlines = [MessageInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Conversation]:
        open_reports = (
            AbuseReport.objects.filter(conversation_id=OuterRef("pk"), status=ReportStatus.OPEN)
            .order_by()
            .values("conversation_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
        queryset: QuerySet[Conversation] = super().get_queryset(request)
        return queryset.annotate(
            open_report_count=Subquery(open_reports, output_field=IntegerField())
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return ["transcript", *super().get_readonly_fields(request, obj)]

    @admin.display(description="open reports", ordering="open_report_count")
    def open_reports(self, obj: Conversation) -> int:
        return int(getattr(obj, "open_report_count", 0) or 0)

    @admin.display(description="transcript (evidence)")
    def transcript(self, obj: Conversation) -> str:
        if obj.pk is None:
            return "-"
        return format_html_join(
            " · ",
            '<a href="{}" class="transcript-{}">{}</a>',
            (
                (
                    reverse("admin:messaging_conversation_transcript", args=[obj.pk, fmt]),
                    fmt,
                    label,
                )
                for fmt, label in (("json", "Download JSON"), ("html", "Printable HTML"))
            ),
        )

    # -- custom views -----------------------------------------------------------------------
    def get_urls(self) -> list[URLPattern]:
        custom = [
            path(
                "<int:conversation_id>/transcript.<str:fmt>",
                self.admin_site.admin_view(self.transcript_view),
                name="messaging_conversation_transcript",
            )
        ]
        return custom + super().get_urls()

    def transcript_view(self, request: HttpRequest, conversation_id: int, fmt: str) -> HttpResponse:
        """The transcript as a JSON download or a printable page; each one audited."""
        conversation = get_object_or_404(self.get_queryset(request), pk=conversation_id)
        if not self.has_view_permission(request, conversation) or fmt not in ("json", "html"):
            raise PermissionDenied
        try:
            transcript = services.conversation_transcript(
                actor=_principal(request), conversation_id=conversation.pk, export_format=fmt
            )
        except DomainError as exc:
            self.message_user(request, f"{exc.code}: {exc.message}", messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:messaging_conversation_change", args=[conversation.pk])
            )
        return _transcript_response(transcript, fmt)

    # -- actions ----------------------------------------------------------------------------
    def _each(
        self, request: HttpRequest, queryset: QuerySet[Conversation], verb: str, call: Any
    ) -> None:
        done = 0
        principal = _principal(request)
        for conversation_id in queryset.values_list("pk", flat=True):
            try:
                call(actor=principal, conversation_id=conversation_id)
            except DomainError as exc:
                self.message_user(
                    request,
                    f"conversation {conversation_id}: {exc.code}: {exc.message}",
                    messages.ERROR,
                )
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} conversation(s) {verb}.")

    @admin.action(description="Freeze the selected conversations (parties read only)")
    def freeze_conversations(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        def freeze(*, actor: Principal, conversation_id: int) -> Any:
            return services.conversation_freeze(
                actor=actor, conversation_id=conversation_id, reason=FreezeReason.STAFF
            )

        self._each(request, queryset, "frozen", freeze)

    @admin.action(description="Unfreeze the selected conversations")
    def unfreeze_conversations(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> None:
        self._each(request, queryset, "unfrozen", services.conversation_unfreeze)

    @admin.action(description="Close the selected conversations for good")
    def close_conversations(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> None:
        def close(*, actor: Principal, conversation_id: int) -> Any:
            return services.conversation_close(
                actor=actor, conversation_id=conversation_id, reason="closed by staff"
            )

        self._each(request, queryset, "closed", close)

    def _export(
        self, request: HttpRequest, queryset: QuerySet[Conversation], fmt: str
    ) -> HttpResponse | None:
        ids = list(queryset.values_list("pk", flat=True)[:2])
        if len(ids) != 1:
            self.message_user(request, "Select exactly one conversation to export.", messages.ERROR)
            return None
        try:
            transcript = services.conversation_transcript(
                actor=_principal(request), conversation_id=ids[0], export_format=fmt
            )
        except DomainError as exc:
            self.message_user(request, f"{exc.code}: {exc.message}", messages.ERROR)
            return None
        return _transcript_response(transcript, fmt)

    @admin.action(description="Export the transcript (JSON, evidence)")
    def export_transcript_json(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> HttpResponse | None:
        return self._export(request, queryset, "json")

    @admin.action(description="Export the transcript (printable HTML)")
    def export_transcript_html(
        self, request: HttpRequest, queryset: QuerySet[Conversation]
    ) -> HttpResponse | None:
        return self._export(request, queryset, "html")


def _transcript_response(transcript: services.Transcript, fmt: str) -> HttpResponse:
    name = f"conversation-{transcript.conversation_id}-transcript"
    if fmt == "json":
        response = HttpResponse(
            transcript.as_json(), content_type="application/json; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.json"'
    else:
        response = HttpResponse(transcript.as_html(), content_type="text/html; charset=utf-8")
        response["Content-Disposition"] = f'inline; filename="{name}.html"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    response["X-Transcript-Digest"] = transcript.digest
    return response


@admin.register(Message)
class MessageAdmin(ReadOnlyAdminMixin, ScopedAdminMixin, admin.ModelAdmin[Message]):
    """Every message with its verdict, reasons and (staff only) original text."""

    scope_field = "conversation__country_code"
    list_display = (
        "id",
        "conversation_link",
        "seq",
        "kind",
        "sender_role",
        "verdict",
        "reasons",
        "created_at",
    )
    list_filter = ("verdict", "kind", "conversation__country_code")
    search_fields = ("=conversation__id", "=conversation__order__id")
    list_select_related = ("conversation",)
    ordering = ("-conversation_id", "seq")

    @admin.display(description="conversation", ordering="conversation_id")
    def conversation_link(self, obj: Message) -> str:
        return _conversation_link(obj.conversation_id)


@admin.register(Strike)
class StrikeAdmin(ReadOnlyAdminMixin, ScopedAdminMixin, admin.ModelAdmin[Strike]):
    """Moderation strikes, per sender (``user:<id>`` or ``anon:<uuid>``): search a sender's key
    to see all their strikes; ``sender strikes`` counts them in your countries."""

    scope_field = "conversation__country_code"
    list_display = (
        "id",
        "sender_key",
        "sender_strikes",
        "conversation_link",
        "verdict",
        "reasons",
        "created_at",
    )
    list_filter = ("verdict", "conversation__country_code")
    search_fields = ("=sender_key", "=conversation__id")
    ordering = ("sender_key", "-created_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Strike]:
        queryset: QuerySet[Strike] = super().get_queryset(request)
        same_sender = (
            self.scope_filter(
                request,
                Strike.objects.filter(sender_key=OuterRef("sender_key")),
                self.scope_field,
            )
            .order_by()
            .values("sender_key")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return queryset.annotate(
            sender_strike_count=Subquery(same_sender, output_field=IntegerField())
        )

    @admin.display(description="sender strikes", ordering="sender_strike_count")
    def sender_strikes(self, obj: Strike) -> int:
        return int(getattr(obj, "sender_strike_count", 0) or 0)

    @admin.display(description="conversation", ordering="conversation_id")
    def conversation_link(self, obj: Strike) -> str:
        return _conversation_link(obj.conversation_id)


@admin.register(AbuseReport)
class AbuseReportAdmin(ReadOnlyAdminMixin, ScopedAdminMixin, admin.ModelAdmin[AbuseReport]):
    """Support's queue: parties' reports and the flags strikes raise. Open first, newest
    first; resolve with the action (audited)."""

    scope_field = "country_code"
    actions = ["resolve_reports"]
    list_display = (
        "id",
        "status",
        "source",
        "reason_code",
        "subject_key",
        "conversation_link",
        "message_seq",
        "message_text",
        "created_at",
        "resolved_at",
    )
    list_filter = ("status", "source", "reason_code", "country_code")
    search_fields = ("=conversation__id", "=conversation__order__id")
    list_select_related = ("message",)

    def get_ordering(self, request: HttpRequest) -> list[Any]:
        open_first = Case(
            When(status=ReportStatus.OPEN, then=Value(0)),
            default=Value(1),
            output_field=IntegerField(),
        )
        return [open_first.asc(), "-created_at", "-id"]

    @admin.display(description="conversation", ordering="conversation_id")
    def conversation_link(self, obj: AbuseReport) -> str:
        return _conversation_link(obj.conversation_id)

    @admin.display(description="seq")
    def message_seq(self, obj: AbuseReport) -> int | None:
        return obj.message.seq if obj.message is not None else None

    @admin.display(description="message (as delivered)")
    def message_text(self, obj: AbuseReport) -> str:
        if obj.message is None:
            return "-"
        text = obj.message.body
        return text if len(text) <= 120 else f"{text[:119]}…"

    @admin.action(description="Resolve the selected reports")
    def resolve_reports(self, request: HttpRequest, queryset: QuerySet[AbuseReport]) -> None:
        principal = _principal(request)
        done = 0
        for report_id in queryset.values_list("pk", flat=True):
            try:
                services.report_resolve(actor=principal, report_id=report_id)
            except DomainError as exc:
                self.message_user(
                    request, f"report {report_id}: {exc.code}: {exc.message}", messages.ERROR
                )
            else:
                done += 1
        if done:
            self.message_user(request, f"{done} report(s) resolved.")
