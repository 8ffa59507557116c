from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    label = "realtime"
    verbose_name = "Realtime"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # [push] Web Push: its audit actions, the notice renderer and the result listener
        # the integrations hub calls (realtime/push/services.py), the flag-state gauge.
        from realtime.push import (
            audit_actions,  # noqa: F401 -- registers the audit actions
            metrics,
            services,
        )

        services.register()
        metrics.report_flag_state()
