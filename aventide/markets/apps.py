from django.apps import AppConfig


class MarketsConfig(AppConfig):
    name = "aventide.markets"
    label = "markets"
    verbose_name = "Markets"
    default_auto_field = "django.db.models.BigAutoField"
