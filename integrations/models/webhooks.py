"""Inbound provider events: ``WebhookEvent``, stored once per ``(provider, event_id)``."""

__all__: list[str] = []
