"""Country moves from accounts to markets (same rows, table renamed to markets_country).

State: the model is created here and deleted from accounts (accounts 0004), without touching
the database; then the table is renamed. The content type (and so its permissions and the
staff groups holding them) moves with it.
"""

import django.core.validators
from django.db import migrations, models


def move_content_type(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="accounts", model="country").update(app_label="markets")


def move_content_type_back(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    ContentType.objects.filter(app_label="markets", model="country").update(app_label="accounts")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("accounts", "0003_staff_groups"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Country",
                    fields=[
                        (
                            "code",
                            models.CharField(
                                max_length=2,
                                primary_key=True,
                                serialize=False,
                                validators=[
                                    django.core.validators.RegexValidator(
                                        "^[A-Z]{2}$", "ISO 3166-1 alpha-2 code, upper case."
                                    )
                                ],
                            ),
                        ),
                        ("name", models.CharField(max_length=80)),
                        (
                            "currency",
                            models.CharField(
                                max_length=3,
                                validators=[
                                    django.core.validators.RegexValidator(
                                        "^[A-Z]{3}$", "ISO 4217 code, upper case."
                                    )
                                ],
                            ),
                        ),
                        ("dispute_window_hours", models.PositiveIntegerField(default=72)),
                        ("platform_fee_bps", models.PositiveIntegerField(default=1000)),
                        ("active", models.BooleanField(default=True)),
                    ],
                    options={
                        "verbose_name_plural": "countries",
                        "ordering": ["code"],
                        "db_table": "accounts_country",
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("platform_fee_bps__lte", 10000)),
                                name="country_fee_bps_lte_10000",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.AlterModelTable(name="country", table=None),
        migrations.RunPython(move_content_type, move_content_type_back),
    ]
