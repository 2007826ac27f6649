"""A "CSM" group with what a Customer Success Manager needs: see and edit roles and their
documents, push/retry/cancel, see runs and batches. Add a user to it and to companies."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

CSM_PERMISSIONS = [
    ("onboarding", "view_company"), ("onboarding", "view_role"), ("onboarding", "add_role"),
    ("onboarding", "change_role"), ("onboarding", "push_role"), ("onboarding", "view_roledocument"),
    ("onboarding", "add_roledocument"), ("onboarding", "change_roledocument"),
    ("onboarding", "delete_roledocument"), ("onboarding", "view_run"), ("onboarding", "view_runstep"),
    ("batches", "view_batch"), ("batches", "view_batchrefusal"), ("django_fsm_log", "view_statelog"),
]


def add_group(apps, schema_editor):
    # Permissions are normally made after all migrations; this group needs them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="CSM")
    for app_label, codename in CSM_PERMISSIONS:
        group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="CSM").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("onboarding", "0003_throttle_run_assessment_slot_at_run_batch"),
        ("batches", "0001_initial"),
        ("django_fsm_log", "0005_description_null"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(add_group, remove_group)]
