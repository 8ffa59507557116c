from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "aventide.ops"
    label = "ops"
    verbose_name = "Ops"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aventide.ops.health import register_builtin_checks

        register_builtin_checks()
