"""The fix-and-retry round trip: a batch's failed and refused roles download as a CSV in the
import format with the reason per row; edited and uploaded back, the dry run shows what
changes, and Import fixes those roles and retries them as the batch's next round."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from batches.csv_import import import_roles
from batches.models import Batch
from onboarding.models import Role, RoleState, Run, RunStatus
from tests.factories import CompanyFactory, force_state

pytestmark = pytest.mark.django_db
HEADER = "company,role_name,draup_role,occupation,job_family,jd"


@pytest.fixture
def batch(csm, liberty):
    data = "\n".join(
        [
            HEADER,
            "Liberty Mutual,Analyst,Analyst,,,The analyst JD",
            "Liberty Mutual,Writer,Writer,,,",
            "Nobody,Clerk,C,,,jd",
        ]
    ).encode()
    report = import_roles(csv_bytes=data, dry_run=False, push=True, user=csm)
    analyst = Role.objects.get(name="Analyst")
    Run.objects.filter(role=analyst).update(
        status=RunStatus.FAILED, error={"error": "SERVER_ERROR", "message": "draup-world kept failing"}
    )
    force_state(analyst, RoleState.FAILED)
    return report.batch


def rows_of(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(response.content.decode())))


def upload(client, batch, rows: list[dict], button: str):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    data = SimpleUploadedFile("fixed.csv", out.getvalue().encode(), content_type="text/csv")
    return client.post(reverse("status-batch-fix", args=[batch.pk]), {button: "1", "csv_file": data})


def test_failed_and_refused_roles_go_round_trip_through_a_spreadsheet(client, csm, batch):
    client.force_login(csm)
    rows = rows_of(client.get(reverse("status-batch-fix-csv", args=[batch.pk])))
    assert [(r["company"], r["role_name"], r["reason"]) for r in rows] == [
        ("Liberty Mutual", "Analyst", "draup-world kept failing"),
        (
            "Liberty Mutual",
            "Writer",
            "Missing JD: a new role needs a job description (text, a URL or a file).",
        ),
        ("Nobody", "Clerk", "Unknown company 'Nobody': it does not exist or is not assigned to you."),
    ]
    rows[1]["jd"] = "# Writer\nWrites."
    rows[2]["company"] = "Liberty Mutual"
    rows[2]["jd"] = "# Clerk\nFiles."  # a refused row was never stored: its JD is given again
    workflow = Run.objects.get(role__name="Analyst").workflow_id

    check = upload(client, batch, rows, "_check")
    assert "Dry run: nothing was changed" in check.content.decode()
    assert [r.action for r in check.context["report"].rows] == ["unchanged", "created", "created"]
    assert Role.objects.count() == 1 and Batch.objects.get().round == 1

    done = upload(client, batch, rows, "_import")
    assert "retried as round 2" in done.content.decode()
    batch.refresh_from_db()
    assert batch.round == 2 and list(batch.refusals.values_list("role_name", "message", "round")) == []
    runs = {r.role.name: r for r in batch.runs.select_related("role")}
    assert set(runs) == {"Analyst", "Writer", "Clerk"}
    assert runs["Analyst"].workflow_id == workflow and runs["Analyst"].status == RunStatus.QUEUED
    page = client.get(reverse("status-batch", args=[batch.pk])).content.decode()
    assert "Round 2" in page


def test_the_download_shows_only_the_viewers_companies(client, csm, batch):
    other = CompanyFactory(name="Acme")
    from tests.factories import ready_role

    role = ready_role(company=other, name="Acme Secret")
    Run.objects.create(role=role, status=RunStatus.FAILED, batch_key=batch.batch_id, error={"message": "x"})
    client.force_login(csm)
    text = client.get(reverse("status-batch-fix-csv", args=[batch.pk])).content.decode()
    assert "Acme Secret" not in text


def test_a_bad_fixed_file_is_refused_whole_and_changes_nothing(client, csm, batch):
    client.force_login(csm)
    data = SimpleUploadedFile("fixed.csv", b"name,jd\nx,y\n", content_type="text/csv")
    response = client.post(reverse("status-batch-fix", args=[batch.pk]), {"_import": "1", "csv_file": data})
    assert "The header row must be exactly" in response.content.decode()
    batch.refresh_from_db()
    assert batch.round == 1 and batch.refusals.count() == 2


def test_a_roles_page_links_to_its_batch(client, csm, batch):
    client.force_login(csm)
    role = Role.objects.get(name="Analyst")
    page = client.get(reverse("status-role", args=[role.pk])).content.decode()
    link = reverse("status-batch-by-key", args=[batch.batch_id])
    assert f'href="{link}">its batch</a>' in page
    assert client.get(link)["Location"] == reverse("status-batch", args=[batch.pk])


def test_the_admin_batch_page_offers_the_round_trip(admin_client, batch):
    page = admin_client.get(reverse("admin:batches_batch_change", args=[batch.pk])).content.decode()
    assert reverse("status-batch-fix-csv", args=[batch.pk]) in page
    assert reverse("status-batch-fix", args=[batch.pk]) in page
