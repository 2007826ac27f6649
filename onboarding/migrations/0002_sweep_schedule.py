"""Schedule the sweep that resumes runs whose worker died and retries that are due."""

from django.db import migrations

SWEEP = "onboarding.tasks.pipeline_sweep"


def add_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="pipeline-sweep",
        defaults={"func": SWEEP, "schedule_type": "I", "minutes": 1, "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name="pipeline-sweep").delete()


class Migration(migrations.Migration):
    dependencies = [("onboarding", "0001_initial"), ("django_q", "0019_alter_task_options_alter_ormq_key_alter_ormq_lock_and_more")]
    operations = [migrations.RunPython(add_schedule, remove_schedule)]
