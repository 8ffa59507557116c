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
