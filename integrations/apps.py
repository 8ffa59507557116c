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
        # [webhooks] Celery's autodiscovery imports only `integrations.tasks`: importing the
        # webhook task module here registers `integrations.process_webhook_event` in every
        # process (web, worker, beat). The body-limit listener counts 413s answered by the
        # ASGI middleware for the webhook endpoint in METRIC_INTEGRATION_WEBHOOK.
        from aventide.core.body_limit import on_body_rejected
        from integrations import webhook_tasks  # noqa: F401
        from integrations.webhook_services import note_rejected_body

        on_body_rejected(note_rejected_body)
