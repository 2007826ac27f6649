"""One intake for the API push, push-batch, the admin CSV import and import_roles: names match
ignoring case and spaces, an existing role is skipped, updated or re-assessed as the caller
chooses, companies are the user's own, and a refused item writes nothing."""

import io
import re
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from batches.csv_import import CsvRefused, import_roles
from batches.models import Batch, BatchRefusal
from onboarding.models import Role, RoleDocument, RoleState, Run
from tests.factories import CompanyFactory, UserFactory, force_state, ready_role

pytestmark = pytest.mark.django_db
BASE = "/api/v1/pipeline/"
HEADER = "company,role_name,draup_role,occupation,job_family,jd"
JD = "# Claims Adjuster\n\nInvestigates claims.\n"


def rows_stored() -> tuple[int, int, int, int, int]:
    return (
        Role.objects.count(),
        RoleDocument.objects.count(),
        Run.objects.count(),
        Batch.objects.count(),
        BatchRefusal.objects.count(),
    )


def push(api, **item):
    body = {"company_id": "Liberty Mutual", "role_name": "Claims Adjuster", **item}
    return api.post(BASE + "push", body, format="json")


@pytest.fixture
def adjuster(liberty):
    return ready_role(company=liberty, name="Claims Adjuster", draup_role_name="Claims")


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["claims adjuster ", "  CLAIMS   Adjuster", "Claims\tAdjuster"])
def test_a_name_differing_only_by_case_or_spaces_is_the_same_role(api, adjuster, typed):
    response = push(api, role_name=typed)
    assert response.status_code == 200, response.json()
    assert response.json()["role_outcome"] == "unchanged"
    assert Role.objects.filter(company=adjuster.company).count() == 1
    assert Run.objects.get().role == adjuster


def test_a_new_role_is_stored_with_its_name_normalised(api, liberty):
    response = push(
        api, role_name="  Senior   Underwriter ", draup_role_name="U", documents=[{"content": JD}]
    )
    assert response.status_code == 200, response.json()
    assert Role.objects.get(company=liberty).name == "Senior Underwriter"


def test_the_same_role_twice_in_one_batch_is_refused_once(api, liberty):
    item = {"company_id": "Liberty Mutual", "draup_role_name": "C", "documents": [{"content": JD}]}
    roles = [{**item, "role_name": "Claims Adjuster"}, {**item, "role_name": "claims  adjuster"}]
    body = api.post(BASE + "push-batch", {"roles": roles}, format="json").json()
    assert len(body["accepted"]) == 1 and body["refused"][0]["reason"].endswith("given twice (item 1).")
    assert Role.objects.count() == 1


def test_a_role_another_request_created_and_pushed_meanwhile_is_refused_as_in_flight(
    api, csm, liberty, monkeypatch
):
    """The other request stored and pushed the role after this one read what exists: this one
    takes the stored role, locked and read again, not the one it meant to create."""
    from onboarding import intake, services

    other = ready_role(company=liberty, name="Claims Adjuster", draup_role_name="C")
    services.roles_push(role_ids=[other.pk], user=csm)
    monkeypatch.setattr(intake, "_existing_roles", lambda companies, items: ({}, {}))  # read before
    item = {"company_id": "Liberty Mutual", "role_name": "Claims Adjuster", "draup_role_name": "C"}
    roles = [
        {**item, "documents": [{"content": JD}]},
        {**item, "role_name": "Underwriter", "documents": [{"content": JD}]},
    ]
    response = api.post(BASE + "push-batch", {"roles": roles}, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert [a["role_name"] for a in body["accepted"]] == ["Underwriter"]
    assert [(r["role_name"], r["error"]) for r in body["refused"]] == [("Claims Adjuster", "CONFLICT")]
    assert "is already being pushed" in body["refused"][0]["reason"]
    assert Run.objects.filter(role=other).count() == 1


def test_the_admin_refuses_a_role_that_differs_from_another_only_by_case(admin_client, adjuster):
    response = admin_client.post(
        reverse("admin:onboarding_role_add"),
        {
            "company": adjuster.company.pk,
            "name": "claims ADJUSTER",
            "documents-TOTAL_FORMS": "0",
            "documents-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "A role named Claims Adjuster already exists at Liberty Mutual." in response.content.decode()
    assert Role.objects.count() == 1


# --- an existing role: skip, update, re-assess -----------------------------------------------


def test_skip_leaves_an_existing_role_alone_and_says_so(api, adjuster):
    before = rows_stored()
    response = push(api, draup_role_name="Other", options={"on_existing": "skip"})
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail["error"] == "ROLE_EXISTS" and "already exists at Liberty Mutual" in detail["message"]
    adjuster.refresh_from_db()
    assert adjuster.draup_role_name == "Claims" and rows_stored() == before


def test_update_of_a_ready_role_with_a_new_mapping_saves_it_and_reassesses(api, adjuster):
    force_state(adjuster, RoleState.READY)
    response = push(api, draup_role_name="Senior Claims Specialist")
    assert response.status_code == 200, response.json()
    assert response.json()["role_outcome"] == "updated"
    assert "draup role name: Claims -> Senior Claims Specialist" in response.json()["message"]
    adjuster.refresh_from_db()
    assert adjuster.draup_role_name == "Senior Claims Specialist" and adjuster.state == RoleState.QUEUED


def test_update_of_a_ready_role_with_nothing_new_is_refused_and_writes_nothing(api, adjuster):
    force_state(adjuster, RoleState.READY)
    before = rows_stored()
    response = push(api, draup_role_name="Claims", documents=[{"content": adjuster.documents.get().content}])
    assert response.status_code == 400
    assert "on_existing=reassess" in response.json()["detail"]["message"]
    adjuster.refresh_from_db()
    assert adjuster.state == RoleState.READY and rows_stored() == before


def test_reassess_runs_a_ready_role_again_even_if_nothing_changed(api, adjuster):
    force_state(adjuster, RoleState.READY)
    response = push(api, options={"on_existing": "reassess"})
    assert response.status_code == 200, response.json()
    adjuster.refresh_from_db()
    assert adjuster.state == RoleState.QUEUED


def test_a_batch_can_skip_the_roles_that_exist_and_push_the_new_ones(api, adjuster):
    item = {"company_id": "Liberty Mutual", "draup_role_name": "C", "documents": [{"content": JD}]}
    roles = [{**item, "role_name": "Claims Adjuster"}, {**item, "role_name": "Underwriter"}]
    body = api.post(BASE + "push-batch", {"roles": roles, "options": {"on_existing": "skip"}}, format="json")
    body = body.json()
    assert [a["role_name"] for a in body["accepted"]] == ["Underwriter"]
    assert body["accepted"][0]["role_outcome"] == "created"
    assert body["skipped"] == [
        {
            "company_id": "Liberty Mutual",
            "role_name": "Claims Adjuster",
            "role_id": str(adjuster.pk),
            "reason": "Claims Adjuster already exists (Draft): skipped.",
        }
    ]
    adjuster.refresh_from_db()
    assert adjuster.state == RoleState.DRAFT and adjuster.draup_role_name == "Claims"


# --- refusals write nothing -------------------------------------------------------------------


def test_a_refused_push_of_a_new_role_creates_nothing(api, liberty, settings):
    settings.DRAUP_WORLD_SIMULATOR = True
    before = rows_stored()
    response = api.post(
        BASE + "push?use_mock=true",
        {"company_id": "Liberty Mutual", "role_name": "No JD", "draup_role_id": "x"},
        format="json",
    )
    assert response.status_code == 400 and response.json()["detail"]["error"] == "VALIDATION_ERROR"
    assert "Missing JD" in response.json()["detail"]["message"]
    assert rows_stored() == before


def test_a_push_of_a_role_in_flight_changes_nothing(api, adjuster):
    force_state(adjuster, RoleState.QUEUED)
    before = rows_stored()
    response = push(api, draup_role_name="Changed", documents=[{"content": "another JD"}])
    assert response.status_code == 409
    adjuster.refresh_from_db()
    assert adjuster.draup_role_name == "Claims" and rows_stored() == before


def test_another_companys_role_is_unknown_and_untouched(api, liberty):
    other = ready_role(company=CompanyFactory(name="Acme"), name="Clerk", draup_role_name="Clerk")
    before = rows_stored()
    hidden = api.post(
        BASE + "push", {"company_id": "Acme", "role_name": "Clerk", "draup_role_name": "X"}, format="json"
    )
    missing = api.post(
        BASE + "push", {"company_id": "Nobody", "role_name": "Clerk", "draup_role_name": "X"}, format="json"
    )
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"]["message"].replace("Acme", "X") == missing.json()["detail"][
        "message"
    ].replace("Nobody", "X")
    other.refresh_from_db()
    assert other.draup_role_name == "Clerk" and rows_stored() == before


# --- the CSV import, through the same intake ---------------------------------------------------


def csv_of(*lines: str, header: str = HEADER) -> bytes:
    return (header + "\n" + "\n".join(lines) + "\n").encode()


def zip_of(name: str, content: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, content)
    return buffer.getvalue()


def test_a_csm_importing_another_companys_rows_learns_nothing_and_changes_nothing(csm, liberty):
    acme = CompanyFactory(name="Acme")
    clerk = ready_role(company=acme, name="Clerk", draup_role_name="Clerk")
    before = rows_stored()
    data = csv_of("Acme,Clerk,New mapping,,,new JD", "Acme,Brand New,X,,,jd", "Nobody,Clerk,X,,,jd")
    for dry_run in (True, False):
        report = import_roles(csv_bytes=data, dry_run=dry_run, push=not dry_run, user=csm)
        assert [r.action for r in report.rows] == ["refused"] * 3
        messages = {r.message.replace("Acme", "?").replace("Nobody", "?") for r in report.rows}
        assert messages == {"Unknown company '?': it does not exist or is not assigned to you."}
    clerk.refresh_from_db()
    assert clerk.draup_role_name == "Clerk" and rows_stored() == before


def test_the_csv_matches_names_ignoring_case_and_spaces(liberty):
    ready_role(company=liberty, name="Claims Adjuster", draup_role_name="Claims")
    report = import_roles(csv_bytes=csv_of("liberty mutual,claims  ADJUSTER ,Claims,,,"), dry_run=False)
    assert [r.action for r in report.rows] == ["unchanged"]
    assert Role.objects.count() == 1


def test_a_csv_row_can_choose_what_happens_to_its_existing_role(liberty):
    role = force_state(ready_role(company=liberty, name="Analyst", draup_role_name="A"), RoleState.READY)
    ready_role(company=liberty, name="Clerk", draup_role_name="C")
    data = csv_of(
        "Liberty Mutual,Analyst,,,,,reassess",
        "Liberty Mutual,Clerk,Changed,,,,skip",
        "Liberty Mutual,Writer,W,,,The JD,",
        header=HEADER + ",on_existing",
    )
    report = import_roles(csv_bytes=data, dry_run=False, push=True)
    assert [r.action for r in report.rows] == ["unchanged", "skipped", "created"]
    role.refresh_from_db()
    assert role.state == RoleState.QUEUED
    assert Role.objects.get(name="Clerk").draup_role_name == "C"
    assert report.batch.runs.count() == 2


def test_a_bad_on_existing_value_refuses_its_row(liberty):
    data = csv_of("Liberty Mutual,Analyst,A,,,jd,sometimes", header=HEADER + ",on_existing")
    report = import_roles(csv_bytes=data, dry_run=False)
    assert report.rows[0].action == "refused" and "on_existing must be one of" in report.rows[0].message
    assert not Role.objects.exists()


def test_a_50_mb_jd_inside_the_zip_is_refused_and_not_stored(liberty):
    huge = zip_of("huge.pdf", b"%PDF" + b" " * (50 * 1024 * 1024))
    assert len(huge) < 1024 * 1024  # it compresses: the size that counts is what it unpacks to
    before = rows_stored()
    report = import_roles(
        csv_bytes=csv_of("Liberty Mutual,Analyst,A,,,huge.pdf"), zip_bytes=huge, dry_run=False
    )
    assert report.rows[0].action == "refused"
    assert report.rows[0].message == "The JD file 'huge.pdf' is 50.0 MB; at most 10.0 MB is accepted."
    assert rows_stored() == before


def test_a_nul_byte_in_a_role_name_refuses_the_file_and_writes_nothing(liberty):
    before = rows_stored()
    with pytest.raises(CsvRefused, match="NUL bytes"):
        import_roles(csv_bytes=csv_of("Liberty Mutual,Ana\x00lyst,A,,,jd"), dry_run=False)
    assert rows_stored() == before


def test_the_admin_upload_shows_a_nul_byte_and_an_oversized_file_as_errors(admin_client, liberty, settings):
    url = reverse("admin:onboarding_role_import_csv")
    before = rows_stored()
    nul = SimpleUploadedFile("r.csv", csv_of("Liberty Mutual,Ana\x00lyst,A,,,jd"), content_type="text/csv")
    response = admin_client.post(url, {"_import": "1", "csv_file": nul})
    assert response.status_code == 200 and "NUL bytes" in response.content.decode()
    settings.CSV_MAX_BYTES = 100
    big = SimpleUploadedFile(
        "r.csv", csv_of("Liberty Mutual,Analyst,A,,," + "x" * 200), content_type="text/csv"
    )
    response = admin_client.post(url, {"_import": "1", "csv_file": big})
    assert response.status_code == 200
    assert re.search(r"The file is \d+ bytes; at most 100 bytes is accepted\.", response.content.decode())
    assert rows_stored() == before


def test_a_csv_row_for_a_csm_who_may_not_push_is_not_pushed(liberty):
    viewer = UserFactory(can_push=False)
    liberty.csms.add(viewer)
    before = rows_stored()
    with pytest.raises(Exception, match="not allowed to push"):
        import_roles(csv_bytes=csv_of("Liberty Mutual,Analyst,A,,,jd"), dry_run=False, push=True, user=viewer)
    assert rows_stored() == before
