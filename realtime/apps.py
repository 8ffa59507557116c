from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    label = "realtime"
    verbose_name = "Realtime"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aventide.accounts.contracts import on_principal_change
        from realtime import revocation

        # A logout, deactivation, staff scope change or identity revocation re-authorizes
        # that principal's open sockets at once (docs/operations/realtime.md).
        on_principal_change(revocation.on_principal_change)

        # [push] Web Push: its audit actions, the notice renderer and the result listener
        # the integrations hub calls (realtime/push/services.py), the flag-state gauge.
        from realtime.push import (
            audit_actions,  # noqa: F401 -- registers the audit actions
            metrics,
            services,
        )

        services.register()
        metrics.report_flag_state()
