"""Chat notices by email and SMS, rendered by the outbox worker when it sends them
(docs/messaging/notifications.md).

The bridge (``messaging.services.bridge``) queues an ``email.send`` / ``sms.send`` job whose
payload holds ids only: ``{"render": "messaging.chat_notice", "params": {conversationId,
participantId, trigger, seq, channel}}``. This renderer (registered at
``MessagingConfig.ready()``) reads, at send time:

- the party's contact through ``aventide.orders.selectors.order_contacts`` (a registered
  party's account email; an anonymous recipient's invitation email or phone and its signed
  personal link), so no address or link signature rests in the outbox row, the audit trail
  or a log line;
- the unread count of that moment (``last_seq - read_up_to_seq``): a party that has read
  everything meanwhile gets nothing (``CHAT_NOTICE_READ``: the job ends discarded, no DLQ).

A notice never contains message text (not the delivered one, let alone a redacted
original): it says how many messages are waiting and links to the order's conversation.
Language: the order's country (es, pt, else en), as the recipient's invitation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings

from aventide.orders import selectors as orders
from integrations.contracts import JobObsolete, PermanentProviderError
from messaging.models import Participant, ParticipantRole

RENDERER = "messaging.chat_notice"
ACTIVATION = "activation"

_TEXT: dict[str, dict[str, str]] = {
    "es": {
        "order": "tu pedido",
        "gift": "tu regalo",
        "subject_message": "Tienes mensajes nuevos sobre {what}",
        "subject_activation": "Se abrió una conversación sobre {what}",
        "greeting": "Hola {name}:",
        "greeting_anonymous": "Hola:",
        "unread_one": "Tienes 1 mensaje sin leer en la conversación sobre {what} «{title}».",
        "unread_many": (
            "Tienes {count} mensajes sin leer en la conversación sobre {what} «{title}»."
        ),
        "activation": "Se abrió una conversación sobre {what} «{title}».",
        "open": "Ábrela aquí: {link}",
        "privacy": "Por tu seguridad, los mensajes no se incluyen en este correo.",
        "personal": "Este enlace es personal: no lo compartas.",
        "sms": "Aventide: tienes {count} mensaje(s) sin leer sobre {what}. Ábrelos aquí: {link}",
    },
    "pt": {
        "order": "seu pedido",
        "gift": "seu presente",
        "subject_message": "Você tem mensagens novas sobre {what}",
        "subject_activation": "Uma conversa foi aberta sobre {what}",
        "greeting": "Olá {name},",
        "greeting_anonymous": "Olá,",
        "unread_one": "Você tem 1 mensagem não lida na conversa sobre {what} «{title}».",
        "unread_many": "Você tem {count} mensagens não lidas na conversa sobre {what} «{title}».",
        "activation": "Uma conversa foi aberta sobre {what} «{title}».",
        "open": "Abra aqui: {link}",
        "privacy": "Para sua segurança, as mensagens não são incluídas neste e-mail.",
        "personal": "Este link é pessoal: não o compartilhe.",
        "sms": "Aventide: você tem {count} mensagem(ns) não lida(s) sobre {what}. Abra: {link}",
    },
    "en": {
        "order": "your order",
        "gift": "your gift",
        "subject_message": "New messages about {what}",
        "subject_activation": "A conversation was opened about {what}",
        "greeting": "Hi {name},",
        "greeting_anonymous": "Hi,",
        "unread_one": "You have 1 unread message in the conversation about {what} “{title}”.",
        "unread_many": (
            "You have {count} unread messages in the conversation about {what} “{title}”."
        ),
        "activation": "A conversation was opened about {what} “{title}”.",
        "open": "Open it here: {link}",
        "privacy": "For your safety, messages are never included in this email.",
        "personal": "This link is personal: do not share it.",
        "sms": "Aventide: {count} unread message(s) about {what}. Open: {link}",
    },
}


def _invalid(detail: str) -> PermanentProviderError:
    return PermanentProviderError(detail, code="RENDER_INVALID")


def chat_link(order_id: int) -> str:
    """A registered party's link to the order's conversation in the client app."""
    return f"{str(settings.MESSAGING_APP_BASE_URL).rstrip('/')}/orders/{order_id}/chat"


def render_chat_notice(params: Mapping[str, Any]) -> dict[str, Any]:
    """The ``email.send`` (``to``, ``subject``, ``body``) or ``sms.send`` (``to``, ``body``)
    payload of a chat notice (see the module docstring)."""
    try:
        conversation_id = int(params["conversationId"])
        participant_id = int(params["participantId"])
        channel = str(params["channel"])
        trigger = str(params.get("trigger", "message"))
    except (KeyError, TypeError, ValueError):
        raise _invalid("chat notice params are malformed") from None
    if channel not in ("email", "sms"):
        raise _invalid("chat notice channel must be email or sms")
    party = (
        Participant.objects.select_related("conversation")
        .filter(pk=participant_id, conversation_id=conversation_id)
        .first()
    )
    if party is None:
        raise _invalid("the conversation or its participant does not exist")
    conversation = party.conversation
    unread = max(0, conversation.last_seq - party.read_up_to_seq)
    if unread == 0:
        raise JobObsolete(
            "the party read everything before the notice went out", code="CHAT_NOTICE_READ"
        )
    contacts = orders.order_contacts(conversation.order_id)
    contact = contacts.parties.get(party.role) if contacts is not None else None
    if contacts is None or contact is None or contact.channel != channel or not contact.address:
        raise PermanentProviderError(
            f"no {channel} contact for this party", code="CHAT_NOTICE_NO_CONTACT"
        )
    anonymous = party.user_id is None
    link = contact.link if anonymous else chat_link(conversation.order_id)
    if not link:
        raise PermanentProviderError("no link for this party", code="CHAT_NOTICE_NO_CONTACT")
    text = _TEXT[orders.language_for(contacts.country_code)]
    what = text["gift" if party.role == ParticipantRole.RECIPIENT else "order"]
    if channel == "sms":
        return {
            "to": contact.address,
            "body": text["sms"].format(count=unread, what=what, link=link),
        }
    title = contacts.listing_title
    if trigger == ACTIVATION and unread == 1:
        summary = text["activation"].format(what=what, title=title)
        subject = text["subject_activation"].format(what=what)
    else:
        summary = text["unread_one" if unread == 1 else "unread_many"].format(
            count=unread, what=what, title=title
        )
        subject = text["subject_message"].format(what=what)
    greeting = (
        text["greeting"].format(name=contact.name) if contact.name else text["greeting_anonymous"]
    )
    lines = [greeting, "", summary, text["open"].format(link=link), "", text["privacy"]]
    if anonymous:
        lines.append(text["personal"])
    return {"to": contact.address, "subject": subject, "body": "\n".join(lines)}
