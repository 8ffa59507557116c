from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "aventide.orders"
    label = "orders"
    verbose_name = "Orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aventide.accounts.contracts import StaffGroup, register_staff_grants
        from aventide.orders import services
        from aventide.orders.services import register_transition_hook
        from aventide.orders.stream_events import publish_order_event

        # [realtime-log] every status change (and the creation) goes to the order's stream.
        register_transition_hook(publish_order_event)

        view = ("view_order", "view_listing")
        register_staff_grants(
            "orders",
            {
                StaffGroup.L1: view,
                StaffGroup.L2: view,
                StaffGroup.L3: view,
                StaffGroup.OPS_LEAD: view,
            },
        )
        # [integrations] Payment, refund and courier confirmations; the invitation renderer.
        from aventide.orders import notifications, provider_events
        from integrations.contracts import register_renderer

        provider_events.register()
        register_renderer(services.INVITATION_RENDERER, notifications.render_invitation)

        from aventide.orders.stream_authz import authorize_order_stream
        from realtime.contracts import register_stream_authorizer

        register_stream_authorizer("order", authorize_order_stream)
