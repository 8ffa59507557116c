from django.apps import AppConfig


class AventideConfig(AppConfig):
    """The project package as an app: composition root (project-wide commands)."""

    name = "aventide"
    label = "aventide"
    verbose_name = "Aventide"
    default_auto_field = "django.db.models.BigAutoField"
