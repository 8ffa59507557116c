from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "aventide.ledger"
    label = "ledger"
    verbose_name = "Ledger"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aventide.accounts import staff_groups as g

        # Read-only money pages for L2+; nobody changes money in the admin.
        view = ("view_transaction", "view_entry", "view_ordersnapshot")
        g.register_grants("ledger", {g.L2_GROUP: view, g.L3_GROUP: view, g.OPS_LEAD_GROUP: view})
