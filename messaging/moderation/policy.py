"""The policy: reason -> action, per country overrides, allowed platform domains.

Read from Django settings (``MODERATION_POLICY``, ``MODERATION_POLICY_BY_COUNTRY``,
``MODERATION_ALLOWED_DOMAINS``; block ``# [moderation]`` of aventide/settings.py) when they are
configured, else these defaults, so the engine also runs without Django (bench). No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from .types import Action, Reason

DEFAULT_POLICY: dict[str, str] = {
    Reason.CONTACT_PHONE: Action.REDACT,
    Reason.CONTACT_EMAIL: Action.REDACT,
    Reason.CONTACT_URL: Action.REDACT,
    Reason.CONTACT_HANDLE: Action.REDACT,
    Reason.PAYMENT_BYPASS: Action.BLOCK,
    Reason.HARASSMENT: Action.BLOCK,
    Reason.SPAM: Action.BLOCK,
}
DEFAULT_ALLOWED_DOMAINS: tuple[str, ...] = ("aventide.gift",)


def _settings() -> object | None:
    try:
        from django.conf import settings
    except ImportError:  # pragma: no cover - Django is a dependency of the project
        return None
    return settings if settings.configured else None


def allowed_domains() -> tuple[str, ...]:
    settings = _settings()
    domains = getattr(settings, "MODERATION_ALLOWED_DOMAINS", None) if settings else None
    if domains is None:
        return DEFAULT_ALLOWED_DOMAINS
    return tuple(str(d).strip().lower().removeprefix("www.") for d in domains if str(d).strip())


def action_for(reason: str, country_code: str) -> Action:
    """The action of one reason in one country (country override, then policy, then default)."""
    settings = _settings()
    policy: Mapping[str, str] = DEFAULT_POLICY
    by_country: Mapping[str, Mapping[str, str]] = {}
    if settings is not None:
        policy = getattr(settings, "MODERATION_POLICY", None) or DEFAULT_POLICY
        by_country = getattr(settings, "MODERATION_POLICY_BY_COUNTRY", None) or {}
    value = by_country.get(country_code, {}).get(reason) or policy.get(reason)
    value = value or DEFAULT_POLICY.get(reason, Action.BLOCK)
    try:
        return Action(str(value).lower())
    except ValueError:
        return Action.BLOCK  # a typo in the settings fails closed
