"""The built-in rules, the default SLA (15 minutes push -> READY), the schedules that are the
safety net of the doorbells, and what the CSM group may do here."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from operations.defaults import ensure_defaults

SCHEDULES = [
    ("operations-sla-check", "operations.jobs.sla_check_job"),
    ("operations-deliveries", "operations.jobs.deliveries_send_job"),
]
CSM_PERMISSIONS = [
    "view_rule",
    "add_rule",
    "change_rule",
    "delete_rule",
    "view_delivery",
    "view_deliveryattempt",
    "view_event",
    "view_slarecord",
    "view_inboxitem",
]


def add_defaults(apps, schema_editor):
    ensure_defaults(apps.get_model("operations", "Rule"), apps.get_model("operations", "SlaConfig"))
    Schedule = apps.get_model("django_q", "Schedule")
    for name, func in SCHEDULES:
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": "I", "minutes": 1, "repeats": -1}
        )
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    group = apps.get_model("auth", "Group").objects.filter(name="CSM").first()
    if group:
        Permission = apps.get_model("auth", "Permission")
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label="operations", codename__in=CSM_PERMISSIONS)
        )


def remove_defaults(apps, schema_editor):
    apps.get_model("operations", "Rule").objects.filter(built_in=True).delete()
    apps.get_model("django_q", "Schedule").objects.filter(name__in=[n for n, _ in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("operations", "0001_initial"),
        ("onboarding", "0004_csm_group"),
        ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more"),
    ]
    operations = [migrations.RunPython(add_defaults, remove_defaults)]
