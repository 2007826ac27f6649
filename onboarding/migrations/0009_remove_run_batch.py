from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("onboarding", "0008_run_batch_key")]

    operations = [migrations.RemoveField(model_name="run", name="batch")]
