"""Historical data migration, now a no-op.

The staff groups and their grants have ONE definition: each app's ``register_grants`` call at
``AppConfig.ready()`` (``aventide.accounts.staff_groups``), applied by the post_migrate
receiver ``ensure_staff_groups`` after every ``migrate``. Databases that ran the old version of
this migration got the same groups and permissions; fresh databases get them from post_migrate.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_auth_staff_anonymous_refresh"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(migrations.RunPython.noop, migrations.RunPython.noop)]
