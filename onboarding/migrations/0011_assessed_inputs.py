"""Each assessment records what it was made from (a hash and a copy of its inputs), and each
document its content hash.

Roles assessed before this migration get the record computed now: the JD their last run linked
(by content, as it is now) and, for READY and DEGRADED roles, their current Draup mapping (any
change to it would have made them STALE already). A STALE role keeps its JD copy, for the diff,
but its mapping before is unknown: it is recorded as not known rather than guessed.

It uses the app's own hashing (onboarding.models.inputs) on purpose: a hash computed here must
equal the one computed at runtime.
"""

from django.db import migrations, models
from django.utils import timezone

BATCH = 500


def hash_documents(apps, schema_editor):
    from onboarding.models.inputs import document_digest

    RoleDocument = apps.get_model("onboarding", "RoleDocument")
    batch = []
    for doc in RoleDocument.objects.order_by("pk").iterator(chunk_size=BATCH):
        doc.content_hash = document_digest(doc)
        batch.append(doc)
        if len(batch) == BATCH:
            RoleDocument.objects.bulk_update(batch, ["content_hash"])
            batch = []
    RoleDocument.objects.bulk_update(batch, ["content_hash"])


def record_assessed_inputs(apps, schema_editor):
    from onboarding.models.inputs import inputs_hash, jd_copy

    Role = apps.get_model("onboarding", "Role")
    RunStep = apps.get_model("onboarding", "RunStep")
    RoleDocument = apps.get_model("onboarding", "RoleDocument")
    Run = apps.get_model("onboarding", "Run")
    roles = list(Role.objects.filter(assessment__isnull=False, assessed_inputs_hash=""))
    run_ids = [r.last_run_id for r in roles if r.last_run_id]
    outputs = dict(RunStep.objects.filter(run_id__in=run_ids, name="role_setup").values_list("run_id", "output"))
    workflow_ids = dict(Run.objects.filter(pk__in=run_ids).values_list("pk", "workflow_id"))
    doc_ids = {(o or {}).get("jd_document_id") for o in outputs.values()} - {None}
    docs = RoleDocument.objects.in_bulk(list(doc_ids))
    now = timezone.now().isoformat()
    for role in roles:
        jd = docs.get((outputs.get(role.last_run_id) or {}).get("jd_document_id"))
        known = role.state in ("READY", "DEGRADED")
        role.assessed_inputs = {
            "jd": jd_copy(jd),
            "draup_role_id": role.draup_role_id.strip() if known else None,
            "draup_role_name": role.draup_role_name.strip() if known else None,
            "recorded_at": now,
            "workflow_id": workflow_ids.get(role.last_run_id, ""),
            "recorded_by_migration": True,
        }
        if known:
            role.assessed_inputs_hash = inputs_hash(
                jd, draup_role_id=role.draup_role_id, draup_role_name=role.draup_role_name
            )
    Role.objects.bulk_update(roles, ["assessed_inputs", "assessed_inputs_hash"], batch_size=BATCH)


class Migration(migrations.Migration):

    dependencies = [
        ('onboarding', '0010_role_name_unique_ignoring_case'),
    ]

    operations = [
        migrations.AddField(
            model_name='role',
            name='assessed_inputs',
            field=models.JSONField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='role',
            name='assessed_inputs_hash',
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='roledocument',
            name='content_hash',
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.RunPython(hash_documents, migrations.RunPython.noop),
        migrations.RunPython(record_assessed_inputs, migrations.RunPython.noop),
    ]
