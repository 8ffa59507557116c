"""The recipient's invitation: rendered by the outbox worker when it sends it.

``order_create`` (and a link re-issue) enqueue an ``email.send`` or ``sms.send`` job whose
payload holds only ids (``{"render": "orders.recipient_invitation", "params": {orderId,
anonId, channel}}``). This renderer (registered at ``OrdersConfig.ready()``) reads the order
and signs the recipient's link at send time, so the link's signature and the contact never
rest in the outbox row, the audit trail or a log line.

The link is ``{RECIPIENT_LINK_BASE_URL}/gift/<anonId>#sig=<signature>``: the recipient's
client sends ``X-Anonymous-Id`` / ``X-Anonymous-Signature`` from it; the signature travels in
the fragment, which browsers never send to a server (no access log sees it).

Language: the order's country (es for Spanish-speaking countries, pt for Brazil and
Portugal, else en).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings

from aventide.accounts import services as accounts
from aventide.orders.models import Order
from integrations.contracts import PermanentProviderError

_LANGUAGE_BY_COUNTRY = {
    **dict.fromkeys(
        ("AR", "MX", "CO", "CL", "PE", "UY", "PY", "BO", "EC", "VE", "ES", "CR", "GT", "DO"),
        "es",
    ),
    "BR": "pt",
    "PT": "pt",
}

_TEXT: dict[str, dict[str, str]] = {
    "es": {
        "subject": "Tienes un regalo en camino",
        "greeting": "Hola {name}:",
        "anon": "Alguien te envió «{title}». Sigue tu regalo aquí: {link}",
        "user": "Alguien te envió «{title}». Entra en tu cuenta de Aventide para seguirlo.",
        "sms": "Aventide: te enviaron un regalo. Síguelo aquí: {link}",
        "footer": "Este enlace es personal: no lo compartas.",
    },
    "pt": {
        "subject": "Você tem um presente a caminho",
        "greeting": "Olá {name},",
        "anon": "Alguém enviou para você «{title}». Acompanhe o presente aqui: {link}",
        "user": "Alguém enviou para você «{title}». Entre na sua conta Aventide para acompanhar.",
        "sms": "Aventide: você recebeu um presente. Acompanhe aqui: {link}",
        "footer": "Este link é pessoal: não o compartilhe.",
    },
    "en": {
        "subject": "You have a gift on its way",
        "greeting": "Hi {name},",
        "anon": "Someone sent you “{title}”. Follow your gift here: {link}",
        "user": "Someone sent you “{title}”. Sign in to your Aventide account to follow it.",
        "sms": "Aventide: someone sent you a gift. Follow it here: {link}",
        "footer": "This link is personal: do not share it.",
    },
}


def language_for(country_code: str) -> str:
    return _LANGUAGE_BY_COUNTRY.get((country_code or "").upper(), "en")


def recipient_link(anon_id: uuid.UUID) -> str:
    """The recipient's personal link (its signature in the fragment)."""
    base = str(settings.RECIPIENT_LINK_BASE_URL).rstrip("/")
    return f"{base}/gift/{anon_id}#sig={accounts.sign_anonymous_id(anon_id)}"


def render_invitation(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``email.send`` / ``sms.send`` payload of an invitation (see the module docstring).
    A link that was re-issued meanwhile is not sent (``INVITATION_STALE``: permanent, the
    newer invitation carries the live link)."""
    try:
        order_id = int(params["orderId"])
        channel = str(params["channel"])
        recipient = str(params["anonId"])
    except (KeyError, TypeError, ValueError):
        raise PermanentProviderError(
            "invitation params are malformed", code="RENDER_INVALID"
        ) from None
    order = Order.objects.select_related("listing").filter(pk=order_id).first()
    if order is None:
        raise PermanentProviderError("the order does not exist", code="RENDER_INVALID")
    text = _TEXT[language_for(order.country_code)]
    if recipient == "user":
        link = ""
    else:
        if order.recipient_anon_id is None or str(order.recipient_anon_id) != recipient:
            raise PermanentProviderError("the link was re-issued", code="INVITATION_STALE")
        link = recipient_link(order.recipient_anon_id)
    if channel == "sms":
        if not order.recipient_phone or not link:
            raise PermanentProviderError("no phone for this invitation", code="RENDER_INVALID")
        return {"to": order.recipient_phone, "body": text["sms"].format(link=link)}
    if not order.recipient_email:
        raise PermanentProviderError("no email for this invitation", code="RENDER_INVALID")
    lines = [
        text["greeting"].format(name=order.recipient_name),
        "",
        text["anon" if link else "user"].format(title=order.listing.title, link=link),
    ]
    if link:
        lines += ["", text["footer"]]
    return {"to": order.recipient_email, "subject": text["subject"], "body": "\n".join(lines)}
