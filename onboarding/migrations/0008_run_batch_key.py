from django.db import migrations, models


class Migration(migrations.Migration):
    """Run.batch_key: the batch a run belongs to, as a label. The batches app copies each run's
    batch into it (batches 0002), then 0009 drops the foreign key, so onboarding's migrations
    no longer depend on batches."""

    dependencies = [("onboarding", "0007_one_simulator_call_at_work_per_key")]

    operations = [
        migrations.AddField(
            model_name="run",
            name="batch_key",
            field=models.CharField(blank=True, db_index=True, default="", max_length=64, verbose_name="batch"),
        ),
    ]
