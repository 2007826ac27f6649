"""Stale means changed: a READY role turns STALE only when its inputs (the JD, by content, and
the Draup mapping) hash differently from those its last assessment recorded, whatever the path
(admin, API, CSV import, a replaced document). A STALE role's pages show what changed."""

import io
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django_fsm_log.models import StateLog

from batches.csv_import import import_roles
from onboarding import services
from onboarding.models import Role, RoleDocument, RoleState, Run, RunStatus
from onboarding.models.inputs import current_job_descriptions, role_inputs_hash
from tests.browser_form import form_data
from tests.factories import CompanyFactory, RoleFactory, UserFactory, force_state, ready_role
from tests.helpers import csm_group

pytestmark = pytest.mark.django_db
JD = (
    "# Claims Adjuster\n\n## Overview\nInvestigates claims.\n\n## Duties\n- Inspect damage\n- Settle claims\n"
)
PDF = b"%PDF-1.4\n% a job description\n"
TASKS = [
    {"name": "Review claim files", "automation_score": 81},
    {"name": "Call claimants", "automation_score": 12},
]


def assessed(role: Role) -> Role:
    """Make `role` READY the way the pipeline leaves it: its run linked its current JD, and
    the assessment was stored (Role.store_assessment records the inputs)."""
    run = services.role_push(role=role)
    jd = current_job_descriptions([role])[role.pk]
    run.steps.filter(name="role_setup").update(
        status="completed", output={"company_role_id": "cr-1", "jd_id": "jd-1", "jd_document_id": jd.pk}
    )
    run.steps.filter(name="ai_assessment").update(status="completed")
    Run.objects.filter(pk=run.pk).update(status=RunStatus.READY)
    role = force_state(role, RoleState.READY)
    role.store_assessment({"ai_automation_score": 61.5, "tasks": TASKS, "impact": {"hours": 3}})
    role.save()
    return role


def assessed_role(content: str = JD, **kwargs) -> Role:
    role = RoleFactory(**kwargs)
    RoleDocument.objects.create(role=role, content=content)
    return assessed(role)


def state_of(role: Role) -> str:
    return Role.objects.get(pk=role.pk).state


def stale_logs(role: Role):
    return StateLog.objects.for_(role).filter(transition="mark_stale")


# --- the record ------------------------------------------------------------------------------


def test_the_assessment_records_the_hash_and_a_copy_of_its_inputs():
    role = assessed_role(draup_role_id="DR-7", draup_role_name="Claims Specialist")
    jd = role.documents.get()
    assert role.assessed_inputs_hash == role_inputs_hash(role, jd)
    copy = role.assessed_inputs
    assert copy["jd"]["text"] == JD.strip() and copy["jd"]["document_id"] == jd.pk
    assert (copy["draup_role_id"], copy["draup_role_name"]) == ("DR-7", "Claims Specialist")
    assert copy["workflow_id"] == role.last_run.workflow_id and copy["recorded_at"]


def test_line_endings_and_surrounding_whitespace_are_not_content():
    role = RoleFactory()
    lf = RoleDocument.objects.create(role=role, content=JD)
    crlf = RoleDocument.objects.create(role=role, content="\r\n  " + JD.replace("\n", "\r\n") + "  \r\n")
    cr = RoleDocument.objects.create(role=role, content=JD.replace("\n", "\r"))
    other = RoleDocument.objects.create(role=role, content=JD.replace("Settle", "Pay"))
    assert lf.content_hash == crlf.content_hash == cr.content_hash != other.content_hash


# --- admin, posted as a browser posts ----------------------------------------------------------


def change_url(role):
    return reverse("admin:onboarding_role_change", args=[role.pk])


def browser_form(client, role) -> dict[str, list[str]]:
    page = client.get(change_url(role))
    assert page.status_code == 200
    data = form_data(page.content.decode(), "role_form")
    data["_save"] = ["Save"]
    return data


def test_saving_a_ready_role_unchanged_as_a_browser_does_leaves_it_ready(admin_client):
    role = assessed_role()
    data = browser_form(admin_client, role)
    assert data["documents-0-content"] == [JD.replace("\n", "\r\n")]  # CRLF, as a browser sends
    assert "documents-TOTAL_FORMS" in data and "documents-INITIAL_FORMS" in data
    response = admin_client.post(change_url(role), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert state_of(role) == RoleState.READY and not stale_logs(role).exists()
    assert admin_client.post(change_url(role), browser_form(admin_client, role)).status_code == 302
    assert state_of(role) == RoleState.READY  # twice: the stored CRLF text hashes the same


def test_a_role_assessed_before_inputs_were_recorded_stays_ready_on_an_unchanged_save(admin_client):
    role = force_state(ready_role(), RoleState.READY)
    assert not role.assessed_inputs_hash
    assert admin_client.post(change_url(role), browser_form(admin_client, role)).status_code == 302
    assert state_of(role) == RoleState.READY
    data = browser_form(admin_client, role)
    data["documents-0-content"] = ["# Another JD"]
    assert admin_client.post(change_url(role), data).status_code == 302
    assert state_of(role) == RoleState.STALE  # nothing recorded to compare with: a change counts


@pytest.mark.parametrize(
    ("field", "value", "what"),
    [
        ("documents-0-content", JD + "\n- Write reports\n", "job description"),
        ("draup_role_name", "Claims Manager", "Draup mapping"),
        ("draup_role_id", "DR-OTHER", "Draup mapping"),
    ],
)
def test_changing_the_jd_or_the_mapping_in_the_admin_marks_it_stale(admin_client, field, value, what):
    role = assessed_role()
    data = browser_form(admin_client, role)
    data[field] = [value]
    assert admin_client.post(change_url(role), data).status_code == 302
    assert state_of(role) == RoleState.STALE
    log = stale_logs(role).get()
    assert log.by.username == "admin" and log.description == f"Changed in the admin ({what})"


def test_editing_what_is_not_an_input_leaves_it_ready(admin_client):
    role = assessed_role()
    data = browser_form(admin_client, role)
    data["occupation"] = ["Insurance"]
    data["documents-0-name"] = ["renamed.md"]
    data["documents-0-content"] = ["\n\n" + JD.replace("\n", "\r\n") + "   \r\n"]
    assert admin_client.post(change_url(role), data).status_code == 302
    assert state_of(role) == RoleState.READY


def file_role() -> Role:
    role = RoleFactory()
    RoleDocument.objects.create(role=role, file=ContentFile(PDF, name="jd.pdf"))
    return assessed(role)


def replace_document(client, role, content: bytes):
    """Delete the JD in the admin and upload a new file in the same Save."""
    data = browser_form(client, role)
    data["documents-0-DELETE"] = ["on"]
    data["documents-1-file"] = SimpleUploadedFile("jd-v2.pdf", content, "application/pdf")
    response = client.post(change_url(role), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert role.documents.get().name == "jd-v2.pdf"


def test_a_replaced_document_with_the_same_content_leaves_it_ready(admin_client):
    role = file_role()
    replace_document(admin_client, role, PDF)
    assert state_of(role) == RoleState.READY


def test_a_replaced_document_with_other_content_marks_it_stale(admin_client):
    role = file_role()
    replace_document(admin_client, role, PDF + b"% version 2\n")
    assert state_of(role) == RoleState.STALE
    assert stale_logs(role).get().description == "Changed in the admin (job description)"


def test_a_degraded_role_is_not_marked_stale(admin_client):
    """PRODUCT.md's lifecycle has READY -> STALE only; a DEGRADED role is retried instead."""
    role = force_state(assessed_role(), RoleState.DEGRADED)
    data = browser_form(admin_client, role)
    data["documents-0-content"] = ["# Another JD"]
    assert admin_client.post(change_url(role), data).status_code == 302
    assert state_of(role) == RoleState.DEGRADED


# --- the service ------------------------------------------------------------------------------


def test_marking_stale_in_bulk_takes_only_the_changed_roles_in_constant_queries(count_queries):
    company = CompanyFactory()
    roles = [assessed_role(company=company) for _ in range(6)]
    for role in roles[:3]:
        RoleDocument.objects.create(role=role, content=JD + "\nNew duty.\n")
    few = count_queries(lambda: services.roles_mark_stale(list(roles[:2]), reason="Test"))
    more = [assessed_role(company=company) for _ in range(30)]
    for role in more[:15]:
        role.draup_role_name = "Changed"
    fresh = list(Role.objects.filter(pk__in=[r.pk for r in roles[2:]]))
    marked = []
    many = count_queries(lambda: marked.extend(services.roles_mark_stale([*fresh, *more], reason="Test")))
    assert many == few
    assert {r.pk for r in marked} == {roles[2].pk} | {r.pk for r in more[:15]}


def test_force_marks_a_role_whose_inputs_did_not_change():
    role = assessed_role()
    assert services.roles_mark_stale([role], reason="Test") == []
    assert services.roles_mark_stale([role], reason="Re-run", force=True) == [role]
    assert state_of(role) == RoleState.STALE


# --- API ----------------------------------------------------------------------------------------

BASE = "/api/v1/pipeline/"


def push_body(role, **extra):
    return {
        "company_id": role.company.name,
        "role_name": role.name,
        "draup_role_id": role.draup_role_id,
        "draup_role_name": role.draup_role_name,
        **extra,
    }


@pytest.mark.parametrize("content", [JD, JD.replace("\n", "\r\n") + "  "])
def test_an_api_push_with_the_same_jd_and_mapping_does_not_mark_it_stale(api, liberty, content):
    role = assessed_role(company=liberty)
    body = push_body(role, documents=[{"content": content}])
    response = api.post(BASE + "push", body, format="json")
    assert response.status_code == 400 and response.json()["detail"]["error"] == "INVALID_TRANSITION"
    assert state_of(role) == RoleState.READY and not stale_logs(role).exists()
    assert Run.objects.filter(role=role).count() == 1


def test_an_api_push_with_a_new_jd_marks_it_stale_and_queues_it(api, liberty, csm):
    role = assessed_role(company=liberty)
    response = api.post(BASE + "push", push_body(role, documents=[{"content": "# New JD"}]), format="json")
    assert response.status_code == 200 and state_of(role) == RoleState.QUEUED
    log = stale_logs(role).get()
    assert log.description == "Inputs changed by an API push (job description)"


def test_an_api_push_with_a_new_mapping_marks_it_stale_and_queues_it(api, liberty):
    role = assessed_role(company=liberty)
    response = api.post(BASE + "push", push_body(role, draup_role_name="Claims Manager"), format="json")
    assert response.status_code == 200 and state_of(role) == RoleState.QUEUED
    assert stale_logs(role).get().description == "Inputs changed by an API push (Draup mapping)"


def test_force_rerun_marks_it_stale_with_nothing_changed(api, liberty):
    role = assessed_role(company=liberty)
    response = api.post(BASE + "push", push_body(role, options={"force_rerun": True}), format="json")
    assert response.status_code == 200 and state_of(role) == RoleState.QUEUED
    assert stale_logs(role).get().description == "A new assessment was asked for"


# --- CSV import ---------------------------------------------------------------------------------


def csv_of(*rows: str) -> bytes:
    return ("company,role_name,draup_role,occupation,job_family,jd\n" + "\n".join(rows) + "\n").encode()


def zip_of(**files: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_csv_import_that_changes_no_input_leaves_it_ready():
    role = assessed_role(name="Analyst", draup_role_name="Analyst")
    row = f'"{role.company.name}",Analyst,Analyst,Finance,Analysts,"{JD}"'
    report = import_roles(csv_bytes=csv_of(row), dry_run=False)
    assert report.rows[0].action == "updated"  # occupation and job family are not inputs
    assert state_of(role) == RoleState.READY


def test_a_csv_import_of_the_same_file_again_leaves_it_ready_and_of_another_marks_it_stale():
    role = file_role()
    row = f'"{role.company.name}","{role.name}",,,,jd.pdf'
    report = import_roles(csv_bytes=csv_of(row), zip_bytes=zip_of(**{"jd.pdf": PDF}), dry_run=False)
    assert report.rows[0].action == "updated" and state_of(role) == RoleState.READY
    import_roles(csv_bytes=csv_of(row), zip_bytes=zip_of(**{"jd.pdf": PDF + b"v2"}), dry_run=False)
    assert state_of(role) == RoleState.STALE
    assert stale_logs(role).get().description == "Inputs changed by a CSV import (job description)"


def test_a_csv_import_with_a_new_mapping_marks_it_stale():
    role = assessed_role(name="Analyst", draup_role_name="Analyst")
    import_roles(csv_bytes=csv_of(f'"{role.company.name}",Analyst,Senior Analyst,,,'), dry_run=False)
    assert state_of(role) == RoleState.STALE
    assert stale_logs(role).get().description == "Inputs changed by a CSV import (Draup mapping)"


# --- what a STALE role's pages show -------------------------------------------------------------


def make_stale(client, role, *, content: str, draup_role_name: str):
    data = browser_form(client, role)
    data["documents-0-content"] = [content]
    data["draup_role_name"] = [draup_role_name]
    assert client.post(change_url(role), data).status_code == 302
    assert state_of(role) == RoleState.STALE


def test_a_stale_roles_page_shows_what_changed_and_its_out_of_date_assessment(admin_client):
    role = assessed_role(draup_role_name="Claims Specialist")
    new_jd = JD.replace("- Settle claims", "- Settle claims <script>alert(1)</script>")
    make_stale(admin_client, role, content=new_jd, draup_role_name="Claims Manager")
    body = admin_client.get(reverse("status-role", args=[role.pk])).content.decode()
    assert "What changed since the last assessment" in body
    assert '<span class="diff-del">-- Settle claims</span>' in body
    assert '<span class="diff-add">+- Settle claims &lt;script&gt;alert(1)&lt;/script&gt;</span>' in body
    assert "<script>alert(1)" not in body
    assert "<del>Claims Specialist / " in body and "<ins>Claims Manager / " in body
    assert "Marked stale by <strong>admin</strong> on" in body
    assert "Changed in the admin (job description, Draup mapping)" in body
    assert "Last assessment" in body and "out of date" in body
    assert "61.5" in body and "Review claim files" in body


def test_a_ready_roles_page_shows_its_assessment_as_current(admin_client):
    role = assessed_role()
    body = admin_client.get(reverse("status-role", args=[role.pk])).content.decode()
    assert "<h2>Assessment</h2>" in body and "out of date" not in body and "What changed" not in body


def test_the_admin_role_page_shows_the_same_summary(admin_client):
    role = assessed_role(draup_role_name="Claims Specialist")
    make_stale(admin_client, role, content=JD + "Travels.\n", draup_role_name="Claims Manager")
    body = admin_client.get(change_url(role)).content.decode()
    assert "What changed since the last assessment" in body
    assert '<span class="diff-add">+Travels.</span>' in body and "<ins>Claims Manager / " in body


def test_a_stale_role_marked_by_hand_says_nothing_differs(admin_client):
    role = assessed_role()
    services.roles_mark_stale([role], reason="Asked for", force=True)
    body = admin_client.get(reverse("status-role", args=[role.pk])).content.decode()
    assert "Nothing differs now" in body and "Marked stale by <strong>the system</strong>" in body


# --- re-assess all stale, per company -----------------------------------------------------------


def stale_roles(company, n: int) -> list[Role]:
    roles = [assessed_role(company=company) for _ in range(n)]
    services.roles_mark_stale(roles, reason="Test", force=True)
    return roles


@pytest.fixture
def acme_csm():
    """A CSM (the CSM group: the admin pages and push) assigned to Acme only."""
    user = UserFactory()
    user.groups.add(csm_group())
    CompanyFactory(name="Acme").csms.add(user)
    return user


def queued(company) -> int:
    return Role.objects.filter(company=company, state=RoleState.QUEUED).count()


def test_the_company_page_button_queues_the_stale_roles(client, acme_csm):
    acme = CompanyFactory(name="Acme")
    stale_roles(acme, 3)
    assessed_role(company=acme)  # READY: stays
    client.force_login(acme_csm)
    page = client.get(reverse("status-company", args=[acme.pk])).content.decode()
    assert "Re-assess all stale (3)" in page
    response = client.post(reverse("status-company-reassess-stale", args=[acme.pk]), follow=True)
    assert "Queued 3 stale roles for a new assessment." in response.content.decode()
    assert queued(acme) == 3 and Role.objects.filter(company=acme, state=RoleState.READY).count() == 1


def test_a_csm_cannot_reassess_another_companys_roles(client, acme_csm):
    other = CompanyFactory(name="Other Inc.")
    stale_roles(other, 2)
    client.force_login(acme_csm)
    response = client.post(reverse("status-company-reassess-stale", args=[other.pk]))
    assert response.status_code == 404 and queued(other) == 0
    admin = client.post(
        reverse("admin:onboarding_company_changelist"),
        {"action": "reassess_stale", "_selected_action": [other.pk]},
    )
    assert admin.status_code == 302 and queued(other) == 0
    report = services.companies_reassess_stale(company_ids=[other.pk], user=acme_csm)
    assert report.runs == [] and queued(other) == 0


def test_reassessing_needs_the_push_permission(client):
    viewer = UserFactory()
    acme = CompanyFactory(name="Acme")
    acme.csms.add(viewer)
    stale_roles(acme, 1)
    client.force_login(viewer)
    assert "Re-assess all stale" not in client.get(reverse("status-company", args=[acme.pk])).content.decode()
    response = client.post(reverse("status-company-reassess-stale", args=[acme.pk]), follow=True)
    assert "not allowed to push" in response.content.decode() and queued(acme) == 0


def test_the_admin_action_queues_the_stale_roles_of_the_selected_companies(client, acme_csm):
    acme = CompanyFactory(name="Acme")
    stale_roles(acme, 2)
    client.force_login(acme_csm)
    response = client.post(
        reverse("admin:onboarding_company_changelist"),
        {"action": "reassess_stale", "_selected_action": [acme.pk]},
        follow=True,
    )
    assert "Queued 2 stale roles for a new assessment." in response.content.decode()
    assert queued(acme) == 2


def test_reassessing_costs_the_same_queries_for_few_or_many_roles(admin_user, count_queries):
    few_co, many_co = CompanyFactory(name="Few"), CompanyFactory(name="Many")
    stale_roles(few_co, 3)
    stale_roles(many_co, 40)
    few = count_queries(lambda: services.companies_reassess_stale(company_ids=[few_co.pk], user=admin_user))
    many = count_queries(lambda: services.companies_reassess_stale(company_ids=[many_co.pk], user=admin_user))
    assert many == few and queued(many_co) == 40
