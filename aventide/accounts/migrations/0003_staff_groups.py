"""Data migration: the staff groups and their permissions.

Groups give Django model permissions (what kind of object a staff member may view/change in
the admin); WHICH rows they see is decided by ScopeGuard (country scopes), never by groups.
Later apps add their own permissions to these groups in their own migrations.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

L1 = ["view_user", "view_anonymousidentity", "view_country"]
L2 = [*L1, "change_anonymousidentity"]
L3 = [*L2]
OPS_LEAD = [
    *L3,
    "add_user",
    "change_user",
    "view_staffprofile",
    "add_staffprofile",
    "change_staffprofile",
    "view_staffcountryscope",
    "add_staffcountryscope",
    "delete_staffcountryscope",
]
GROUPS = {
    "L1 agent": L1,
    "L2 agent": L2,
    "L3 country ops lead": L3,
    "Ops lead": OPS_LEAD,
}


def create_groups(apps, schema_editor):
    # Permissions are normally created after all migrations (post_migrate); create ours now.
    create_permissions(global_apps.get_app_config("accounts"), apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in GROUPS.items():
        group, _ = Group.objects.get_or_create(name=name)
        perms = Permission.objects.filter(
            content_type__app_label="accounts", codename__in=codenames
        )
        group.permissions.add(*perms)


def drop_groups(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(GROUPS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_auth_staff_anonymous_refresh"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, drop_groups)]
