from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    label = "integrations"
    verbose_name = "Integrations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aventide.accounts.contracts import StaffGroup, register_staff_grants
        from integrations import audit_actions  # noqa: F401 -- registers the audit actions

        view = ("view_job", "view_attempt")
        register_staff_grants(
            "integrations",
            {StaffGroup.L3: view, StaffGroup.OPS_LEAD: view},
        )
        # [webhooks] Stored webhook events are processed as outbox jobs of kind "inbound"
        # (retries, DLQ, replay). The body-limit listener counts 413s answered by the ASGI
        # middleware for the webhook endpoint in METRIC_INTEGRATION_WEBHOOK.
        from aventide.core.body_limit import on_body_rejected
        from integrations import executors
        from integrations.webhook_services import INBOUND_KIND, note_rejected_body, run_inbound

        executors.register_local(INBOUND_KIND, run_inbound)
        on_body_rejected(note_rejected_body)
        # [ops-alerts] The hub's alert rules (DLQ growing, a circuit open too long, the due
        # backlog over its threshold), evaluated by ops every minute (integrations/alerts.py).
        from integrations.alerts import register_alert_rules

        register_alert_rules()
