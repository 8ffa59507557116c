"""The audit actions markets records (see ``audit.actions``)."""

from __future__ import annotations

from audit.actions import AuditAction, register


@register
class CountryAction(AuditAction):
    POLICY_SET = "country.policy_set"
