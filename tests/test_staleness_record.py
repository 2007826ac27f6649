"""Where the record of an assessment's inputs comes from: the pipeline stores it with the
assessment, and a migration computes it for roles assessed before it existed."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from onboarding import services
from onboarding.models import Role, RoleDocument, RoleState
from onboarding.models.inputs import role_inputs_hash
from tests.factories import RoleFactory

pytestmark = pytest.mark.django_db(transaction=True)
JD = "# Underwriter\r\n\r\nPrices risk.\r\n"
BEFORE = ("onboarding", "0010_role_name_unique_ignoring_case")


def test_the_pipeline_stores_the_inputs_it_assessed(simulator, work):
    role = RoleFactory(name="Underwriter", draup_role_name="Underwriting")
    jd = RoleDocument.objects.create(role=role, content=JD)
    run = services.role_push(role=role)
    work()
    role = Role.objects.get(pk=role.pk)
    assert role.state == RoleState.READY
    assert role.assessed_inputs_hash == role_inputs_hash(role, jd)
    assert role.assessed_inputs["jd"]["text"] == "# Underwriter\n\nPrices risk."
    assert role.assessed_inputs["jd"]["document_id"] == jd.pk
    assert role.assessed_inputs["draup_role_name"] == "Underwriting"
    assert role.assessed_inputs["workflow_id"] == run.workflow_id
    assert services.roles_mark_stale([role], reason="Saved") == []
    RoleDocument.objects.filter(pk=jd.pk).update(content=JD + "Travels.")
    RoleDocument.objects.get(pk=jd.pk).save()  # the hash follows the content
    assert services.roles_mark_stale([role], reason="Saved") == [role]


def _migrate(target):
    executor = MigrationExecutor(connection)
    executor.migrate([target])
    return executor.loader.project_state([target]).apps


def _migrate_to_latest():
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_the_migration_records_the_inputs_of_roles_assessed_before_it():
    apps = _migrate(BEFORE)
    try:
        company = apps.get_model("onboarding", "Company").objects.create(name="Acme")
        ready = _assessed(apps, company, "Analyst", "READY")
        stale = _assessed(apps, company, "Writer", "STALE")
        draft = apps.get_model("onboarding", "Role").objects.create(company=company, name="New").pk
    finally:
        _migrate_to_latest()  # 0011 (under test) and every later one: other tests need them
    ready, stale, draft = (Role.objects.get(pk=pk) for pk in (ready, stale, draft))
    jd = ready.documents.get()
    assert jd.content_hash and ready.assessed_inputs_hash == role_inputs_hash(ready, jd)
    assert services.roles_mark_stale([ready], reason="Saved") == []
    assert ready.assessed_inputs["jd"]["text"] == "The JD of Analyst"
    assert stale.assessed_inputs["jd"]["text"] == "The JD of Writer"
    assert stale.assessed_inputs["draup_role_name"] is None  # the mapping before: not known
    assert draft.assessed_inputs is None and not draft.assessed_inputs_hash


def _assessed(apps, company, name: str, state: str) -> int:
    """A role assessed by the code before the migration: its run linked a JD; no record."""
    role = apps.get_model("onboarding", "Role").objects.create(
        company=company, name=name, draup_role_name="Mapped", state=state, assessment={"tasks": []}
    )
    doc = apps.get_model("onboarding", "RoleDocument").objects.create(
        role=role, doc_type="job_description", content=f"The JD of {name}\r\n", format="text"
    )
    run = apps.get_model("onboarding", "Run").objects.create(role=role, status="READY")
    apps.get_model("onboarding", "RunStep").objects.create(
        run=run, name="role_setup", position=0, status="completed", output={"jd_document_id": doc.pk}
    )
    role.last_run = run
    role.save()
    return role.pk
