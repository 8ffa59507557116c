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

        # [admin] Every staff level reads the chat's admin pages (rows: ScopeGuard; actions:
        # the services' own checks).
        from aventide.accounts.contracts import StaffGroup, register_staff_grants

        chat_view = ("view_conversation", "view_message", "view_strike", "view_abusereport")
        register_staff_grants(
            "messaging",
            {
                StaffGroup.L1: chat_view,
                StaffGroup.L2: chat_view,
                StaffGroup.L3: chat_view,
                StaffGroup.OPS_LEAD: chat_view,
            },
        )

        # [bridge] Chat notices by email/SMS, rendered by the outbox worker at send time.
        from integrations.contracts import register_renderer
        from messaging import notifications

        register_renderer(notifications.RENDERER, notifications.render_chat_notice)

        # [receipts] Realtime ``ack`` frames (message.delivered / message.read): one service.
        from messaging.services.receipts import ACK_FRAME_HANDLERS
        from realtime.contracts import register_ack_handler

        for ack_kind, handler in ACK_FRAME_HANDLERS.items():
            register_ack_handler(ack_kind, handler)

        # [send] Realtime ``send`` frames (``message.send``): the REST send's service and answer.
        from messaging.services.send import SEND_FRAME_HANDLERS
        from realtime.contracts import register_send_handler

        for send_kind, send in SEND_FRAME_HANDLERS.items():
            register_send_handler(send_kind, send)
