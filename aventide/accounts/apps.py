"""Accounts app. See ARCHITECTURE.md for its responsibilities."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "aventide.accounts"
    label = "accounts"
    verbose_name = "Accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from aventide.accounts import schema  # noqa: F401  # registers the OpenAPI auth schemes
        from aventide.accounts import staff_groups as g

        l1 = ("view_user", "view_anonymousidentity")
        l2 = (*l1, "change_anonymousidentity")
        g.register_grants(
            "accounts",
            {
                g.L1_GROUP: l1,
                g.L2_GROUP: l2,
                g.L3_GROUP: l2,
                g.OPS_LEAD_GROUP: (
                    *l2,
                    "add_user",
                    "change_user",
                    "view_staffprofile",
                    "add_staffprofile",
                    "change_staffprofile",
                    "view_staffcountryscope",
                    "add_staffcountryscope",
                    "delete_staffcountryscope",
                ),
            },
        )
        # markets sits below accounts (it cannot import staff_groups): its grants live here.
        country = ("view_country",)
        g.register_grants(
            "markets",
            {
                g.L1_GROUP: country,
                g.L2_GROUP: country,
                g.L3_GROUP: country,
                g.OPS_LEAD_GROUP: country,
            },
        )
        # Runs after Django created each app's permissions (auth's receiver comes first).
        post_migrate.connect(g.ensure_staff_groups, dispatch_uid="aventide.staff_groups")
