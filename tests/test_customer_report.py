"""The customer report: a PDF a CSM can send as it is, and a read-only link that expires.
Roles ready with scores, in progress with when to expect them, and what the customer must
send; no internal ids, simulator URLs or engineer-only words."""

import re
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from django.urls import reverse

from onboarding.customer_report import share_token
from onboarding.models import Role, RoleState, Run, RunStatus
from tests.factories import CompanyFactory, RoleFactory, force_state, ready_role

pytestmark = pytest.mark.django_db
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"


@pytest.fixture
def roles(liberty):
    ready = force_state(ready_role(company=liberty, name="Claims Adjuster"), RoleState.READY)
    Role.objects.filter(pk=ready.pk).update(
        ai_automation_score=72.4, dashboard_url="http://testserver/simulator/dashboard/cr-123/"
    )
    busy = ready_role(company=liberty, name="Underwriter")
    run = Run.objects.create(role=busy, status=RunStatus.PROCESSING)
    Role.objects.filter(pk=busy.pk).update(last_run=run)
    force_state(busy, RoleState.PROCESSING)
    force_state(RoleFactory(company=liberty, name="Store Manager"), RoleState.VALIDATION_ERROR)
    broken = ready_role(company=liberty, name="Actuary")
    failed = Run.objects.create(
        role=broken,
        status=RunStatus.FAILED,
        error={"error": "AUTH_ERROR", "message": "check DRAUP_WORLD_TOKEN"},
    )
    Role.objects.filter(pk=broken.pk).update(last_run=failed)
    force_state(broken, RoleState.FAILED)
    ready_role(company=CompanyFactory(name="Acme"), name="Secret Acme Role")
    return {"run": run, "failed": failed}


def pdf_text(data: bytes) -> str:
    pdf = pdfium.PdfDocument(data)
    return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))


def test_the_pdf_reads_as_a_report_for_the_customer(client, csm, liberty, roles):
    client.force_login(csm)
    response = client.get(reverse("status-company-report", args=[liberty.pk]))
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "Liberty Mutual: your roles on Etter" in text
    assert "1 of 4 roles ready · 2 in progress · 1 waiting for you" in text
    assert "Claims Adjuster" in text and "72 / 100" in text
    assert "Please send us the job description for Store Manager." in text
    assert "Underwriter" in text and "Expected" in text
    assert "Actuary" in text and "no action needed" in text
    for internal in (
        "simulator",
        "role-onboard-",
        roles["run"].workflow_id,
        "DRAUP_WORLD_TOKEN",
        "AUTH_ERROR",
        "Acme",
    ):
        assert internal not in text
    assert not re.search(r"\bcr-\d+", text)
    ARTIFACTS.mkdir(exist_ok=True)
    page = pdfium.PdfDocument(response.content)[0]
    page.render(scale=1.5).to_pil().save(ARTIFACTS / "customer-report-page-1.png")


def test_a_shared_link_opens_without_login_and_expires(client, csm, liberty, roles, settings):
    client.force_login(csm)
    shared = client.post(reverse("status-company-share", args=[liberty.pk]), follow=True)
    link = re.search(r"http://testserver(/status/shared/[^\s<]+/)", shared.content.decode())[1]
    client.logout()
    page = client.get(link)
    assert page.status_code == 200 and page["Referrer-Policy"] == "no-referrer"
    body = page.content.decode()
    assert "Liberty Mutual: your roles on Etter" in body and "Please send us the job description" in body
    assert "simulator" not in body and "Acme" not in body
    assert client.get(link + "report.pdf")["Content-Type"] == "application/pdf"
    settings.CUSTOMER_REPORT_LINK_DAYS = -1  # every link is past its time now
    expired = client.get(link)
    assert expired.status_code == 410 and "This link has expired" in expired.content.decode()
    assert client.get(link + "report.pdf").status_code == 410


def test_an_altered_link_and_another_csms_company_are_refused(client, csm, liberty):
    acme = CompanyFactory(name="Acme")
    token = share_token(liberty)
    assert client.get(reverse("customer-report", args=[token[:-2] + "xx"])).status_code == 410
    client.force_login(csm)
    assert client.get(reverse("status-company-report", args=[acme.pk])).status_code == 404
    assert client.post(reverse("status-company-share", args=[acme.pk])).status_code == 404


def test_the_report_costs_the_same_queries_for_many_roles(liberty, count_queries):
    from onboarding.customer_report import company_report

    for i in range(3):
        ready_role(company=liberty, name=f"Role {i}")
    few = count_queries(lambda: company_report(liberty))
    for i in range(3, 60):
        ready_role(company=liberty, name=f"Role {i}")
    assert count_queries(lambda: company_report(liberty)) == few
