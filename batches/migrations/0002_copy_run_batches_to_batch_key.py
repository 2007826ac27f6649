from django.db import migrations
from django.db.models import OuterRef, Subquery


def copy_batch_keys(apps, schema_editor):
    Run = apps.get_model("onboarding", "Run")
    Batch = apps.get_model("batches", "Batch")
    public_id = Batch.objects.filter(pk=OuterRef("batch_id")).values("batch_id")[:1]
    Run.objects.filter(batch__isnull=False).update(batch_key=Subquery(public_id))


def copy_back(apps, schema_editor):
    Run = apps.get_model("onboarding", "Run")
    Batch = apps.get_model("batches", "Batch")
    pk = Batch.objects.filter(batch_id=OuterRef("batch_key")).values("pk")[:1]
    Run.objects.exclude(batch_key="").update(batch_id=Subquery(pk))


class Migration(migrations.Migration):
    """Each run's batch moves from onboarding's foreign key to its batch_key label, before
    onboarding drops the key: batches build on onboarding, so this side orders the two."""

    dependencies = [("batches", "0001_initial"), ("onboarding", "0008_run_batch_key")]
    run_before = [("onboarding", "0009_remove_run_batch")]

    operations = [migrations.RunPython(copy_batch_keys, copy_back)]
