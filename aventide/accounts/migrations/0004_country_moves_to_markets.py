"""Country now lives in aventide.markets (see markets 0001): drop it from accounts' state
only; the table was adopted (and renamed) by markets."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_staff_groups"),
        ("markets", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="Country")],
            database_operations=[],
        ),
    ]
