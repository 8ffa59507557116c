from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "messaging"
    label = "messaging"
    verbose_name = "Messaging"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aventide.orders.services import register_fulfilment_hook, register_transition_hook
        from messaging import audit_actions  # noqa: F401 -- registers the audit actions
        from messaging.services import conversations
        from messaging.stream_authz import authorize_conversation_stream
        from realtime.contracts import register_stream_authorizer

        # Every order gets its (dormant) conversation in its creation transaction; a failed
        # courier attempt opens it.
        register_transition_hook(conversations.on_order_transition)
        register_fulfilment_hook(conversations.on_delivery_attempt_failed)
        # ``conversation:<id>`` streams: members and in-scope staff.
        register_stream_authorizer("conversation", authorize_conversation_stream)
        # Realtime ``ack`` frames (message.delivered / message.read): the receipts service.
        from messaging.services.receipts import ACK_FRAME_HANDLERS
        from realtime.contracts import register_ack_handler

        for ack_kind, handler in ACK_FRAME_HANDLERS.items():
            register_ack_handler(ack_kind, handler)
