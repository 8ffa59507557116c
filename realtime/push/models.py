"""``PushSubscription``: one browser's Web Push subscription, owned by one principal.

Loaded by Django through ``realtime/models.py`` (``app_label = "realtime"``). The endpoint and
the keys are capabilities (whoever holds them can push to the browser): they are never logged,
audited or put in an outbox row (the push job stores the subscription id; the endpoint and
keys are rendered when the worker sends it).
"""

from __future__ import annotations

from django.db import models

__all__ = ["PushSubscription"]

#: the longest endpoint accepted (push services' URLs are a few hundred characters)
ENDPOINT_MAX_LENGTH = 2048


class PushSubscription(models.Model):
    #: the owner: ``user:<id>`` or ``anon:<uuid>`` (realtime's audience keys)
    principal_key = models.CharField(max_length=48)
    country_code = models.CharField(max_length=2)
    endpoint = models.CharField(max_length=ENDPOINT_MAX_LENGTH, unique=True)
    p256dh = models.CharField(max_length=128)  # base64url of the 65-byte P-256 point
    auth = models.CharField(max_length=64)  # base64url of the 16-byte auth secret
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_failure_code = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        app_label = "realtime"
        db_table = "realtime_push_subscription"
        indexes = [
            models.Index(fields=["principal_key", "created_at"], name="rt_push_principal_idx"),
            models.Index(fields=["country_code"], name="rt_push_country_idx"),
        ]

    def __str__(self) -> str:  # no endpoint: it is a capability
        return f"push-subscription:{self.pk} {self.principal_key}"

    @property
    def endpoint_origin(self) -> str:
        """The push service's origin (scheme + host): safe to show, the path is the secret."""
        scheme, _, rest = self.endpoint.partition("://")
        return f"{scheme}://{rest.split('/', 1)[0]}"
