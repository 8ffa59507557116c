from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "aventide.ledger"
    label = "ledger"
    verbose_name = "Ledger"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from aventide.accounts.contracts import StaffGroup, register_staff_grants

        # Read-only money pages for L2+; nobody changes money in the admin.
        view = ("view_transaction", "view_entry", "view_ordersnapshot")
        register_staff_grants(
            "ledger", {StaffGroup.L2: view, StaffGroup.L3: view, StaffGroup.OPS_LEAD: view}
        )
