"""An order's escrow balance row points at the order's snapshot (one locking read per
movement). Existing escrow rows are linked to their snapshot by order id."""

import django.db.models.deletion
from django.db import migrations, models

ESCROW_ORDER_PREFIX = "escrow:order:"


def link_snapshots(apps, schema_editor):
    AccountBalance = apps.get_model("ledger", "AccountBalance")
    OrderSnapshot = apps.get_model("ledger", "OrderSnapshot")
    for balance in AccountBalance.objects.filter(
        account__startswith=ESCROW_ORDER_PREFIX, snapshot__isnull=True
    ).iterator():
        order_id = balance.account.removeprefix(ESCROW_ORDER_PREFIX)
        if not order_id.isdigit():
            continue
        snapshot = OrderSnapshot.objects.filter(order_id=int(order_id)).first()
        if snapshot is not None:
            balance.snapshot_id = snapshot.pk
            balance.save(update_fields=["snapshot"])


class Migration(migrations.Migration):
    dependencies = [("ledger", "0002_append_only_triggers")]

    operations = [
        migrations.AddField(
            model_name="accountbalance",
            name="snapshot",
            field=models.ForeignKey(
                blank=True,
                help_text="The order's money frozen at capture (escrow rows of orders).",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="ledger.ordersnapshot",
            ),
        ),
        migrations.RunPython(link_snapshots, migrations.RunPython.noop),
    ]
