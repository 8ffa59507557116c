from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "aventide.orders"
    label = "orders"
    verbose_name = "Orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aventide.accounts import staff_groups as g

        view = ("view_order", "view_listing")
        g.register_grants(
            "orders",
            {
                g.L1_GROUP: view,
                g.L2_GROUP: view,
                g.L3_GROUP: view,
                g.OPS_LEAD_GROUP: view,
            },
        )
