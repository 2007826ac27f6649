"""The status pages: content, scope, permission, and a constant number of queries."""

import csv
import io

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from batches.services import batch_push
from onboarding import services
from onboarding.models import Role, RoleState, Run, RunStatus
from onboarding.pipeline.steps import step_names
from tests.factories import CompanyFactory, RoleFactory, UserFactory, force_state, ready_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def acme():
    return CompanyFactory(name="Acme Corporation")


@pytest.fixture
def csm(acme):
    user = UserFactory(can_push=True)
    acme.csms.add(user)
    return user


@pytest.fixture
def csm_client(client, csm):
    client.force_login(csm)
    return client


def ready_with_assessment(company):
    role = ready_role(company=company, name="Data Scientist")
    run = services.role_push(role=role)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.READY, finished_at=timezone.now())
    run.steps.update(status="completed", attempts=1, duration_ms=120)
    Role.objects.filter(pk=role.pk).update(
        ai_automation_score=61.5,
        dashboard_url="https://etter.example.com/d/1",
        assessment={
            "ai_automation_score": 61.5,
            "impact": {},
            "tasks": [
                {"name": "Clean data", "automation_score": 90},
                {"name": "Present", "automation_score": 10},
            ],
        },
    )
    return force_state(role, RoleState.READY)


def test_every_page_needs_a_login(client, acme):
    role = ready_role(company=acme)
    for url in [
        reverse("status-index"),
        reverse("status-role", args=[role.pk]),
        reverse("status-company", args=[acme.pk]),
    ]:
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response.url


def test_the_index_lists_my_companies_with_their_rollup_and_recent_batches(csm_client, acme):
    ready_with_assessment(acme)
    RoleFactory(company=acme)
    CompanyFactory(name="Walmart Inc.")
    body = csm_client.get(reverse("status-index")).content.decode()
    assert "Acme Corporation" in body and "Walmart Inc." not in body
    assert "<td>2</td>" in body  # two roles


def test_the_role_page_explains_the_state_and_shows_the_assessment(csm_client, acme):
    role = ready_with_assessment(acme)
    body = csm_client.get(reverse("status-role", args=[role.pk])).content.decode()
    assert "Done: the assessment is stored" in body and "61.5" in body
    assert "Clean data" in body and "https://etter.example.com/d/1" in body
    steps = len(step_names())
    assert f'<progress max="{steps}" value="{steps}"' in body and "data-final" in body
    assert "data-poll-url" not in body  # nothing in flight: no polling
    assert reverse("admin:onboarding_role_change", args=[role.pk]) in body


def test_a_role_in_flight_polls_its_live_part_and_shows_cancel(csm_client, acme):
    role = ready_role(company=acme)
    services.role_push(role=role)
    body = csm_client.get(reverse("status-role", args=[role.pk])).content.decode()
    assert f'data-poll-url="{reverse("status-role-live", args=[role.pk])}"' in body
    assert "queue: <strong>1</strong>" in body
    assert ">Cancel</button>" in body
    live = csm_client.get(reverse("status-role-live", args=[role.pk])).content.decode()
    assert "<html" not in live and "Waiting for a worker" in live


def test_a_failed_role_says_what_to_do_and_offers_retry(csm_client, acme):
    role = ready_role(company=acme)
    run = services.role_push(role=role)
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED,
        error={
            "error": "INVALID_REQUEST",
            "message": "draup-world refused the request (400)",
            "step": "role_setup",
        },
    )
    force_state(role, RoleState.FAILED)
    body = csm_client.get(reverse("status-role", args=[role.pk])).content.decode()
    assert "draup-world refused the role&#x27;s data" in body and ">Retry</button>" in body
    response = csm_client.post(reverse("status-role-action", args=[role.pk, "retry"]), follow=True)
    assert "Retrying" in response.content.decode()
    assert Role.objects.get(pk=role.pk).state == RoleState.QUEUED


def test_push_from_the_role_page_and_a_refusal_is_a_message(csm_client, acme):
    good, bad = ready_role(company=acme), RoleFactory(company=acme)
    csm_client.post(reverse("status-role-action", args=[good.pk, "push"]))
    assert Role.objects.get(pk=good.pk).state == RoleState.QUEUED
    response = csm_client.post(reverse("status-role-action", args=[bad.pk, "push"]), follow=True)
    assert "Add a job description" in response.content.decode()


def test_without_the_push_permission_there_are_no_buttons_and_posts_are_refused(client, acme):
    viewer = UserFactory()
    acme.csms.add(viewer)
    client.force_login(viewer)
    role = ready_role(company=acme)
    body = client.get(reverse("status-role", args=[role.pk])).content.decode()
    assert "Push to Etter</button>" not in body
    response = client.post(reverse("status-role-action", args=[role.pk, "push"]), follow=True)
    assert "not allowed to push" in response.content.decode()
    assert Role.objects.get(pk=role.pk).state == RoleState.DRAFT


def test_another_companys_pages_are_404(csm_client):
    other = CompanyFactory(name="Liberty Mutual")
    role = ready_role(company=other)
    batch = batch_push(role_ids=[role.pk])
    for url in [
        reverse("status-role", args=[role.pk]),
        reverse("status-role-live", args=[role.pk]),
        reverse("status-company", args=[other.pk]),
        reverse("status-company-csv", args=[other.pk]),
        reverse("status-batch", args=[batch.pk]),
        reverse("status-batch-live", args=[batch.pk]),
    ]:
        assert csm_client.get(url).status_code == 404, url
    assert csm_client.post(reverse("status-role-action", args=[role.pk, "cancel"])).status_code == 404


def test_the_batch_page_groups_failures_and_shows_retries_and_progress(csm_client, acme):
    roles = [ready_role(company=acme) for _ in range(4)]
    batch = batch_push(role_ids=[r.pk for r in roles])
    runs = list(batch.runs.order_by("id"))
    now = timezone.now()
    Run.objects.filter(pk=runs[0].pk).update(status=RunStatus.READY, finished_at=now)
    Run.objects.filter(pk=runs[1].pk).update(
        status=RunStatus.FAILED,
        finished_at=now,
        error={"error": "NO_JOB_DESCRIPTION", "message": "upload one and retry", "step": "role_setup"},
    )
    Run.objects.filter(pk=runs[2].pk).update(
        status=RunStatus.FAILED,
        finished_at=now,
        error={
            "error": "UNAUTHORIZED",
            "message": "draup-world rejected the credentials",
            "step": "role_setup",
        },
    )
    Run.objects.filter(pk=runs[3].pk).update(status=RunStatus.PROCESSING, next_attempt_at=now)
    body = csm_client.get(reverse("status-batch", args=[batch.pk])).content.decode()
    assert '<progress max="100" value="75.0"' in body
    assert "75% finished: 1 ready, 2 failed, 1 in flight" in body  # failures are not hidden in "done"
    assert "No job description" in body and "fix it" in body  # needs you, with the place to fix it
    assert "rejected our credentials" in body  # for an engineer
    assert "The system is retrying" in body and "next attempt at" in body
    assert "<svg" in body and "<rect" in body
    assert (
        "Retry failed roles" in body
        and f'data-poll-url="{reverse("status-batch-live", args=[batch.pk])}"' in body
    )


def test_retry_failed_from_the_batch_page(csm_client, acme):
    role = ready_role(company=acme)
    batch = batch_push(role_ids=[role.pk])
    batch.runs.update(status=RunStatus.FAILED, error={"error": "SERVER_ERROR", "message": "x"})
    force_state(role, RoleState.FAILED)
    response = csm_client.post(reverse("status-batch-retry", args=[batch.pk]), follow=True)
    assert "Retrying 1 failed roles" in response.content.decode()


def test_the_company_page_rolls_up_and_downloads_a_csv(csm_client, acme):
    ready_with_assessment(acme)
    RoleFactory(company=acme, name="Never Pushed")
    force_state(ready_role(company=acme, name="Broken"), RoleState.FAILED)
    body = csm_client.get(reverse("status-company", args=[acme.pk])).content.decode()
    assert "1 of 3 ready" in body and "1 need you" in body and "1 never pushed" in body
    response = csm_client.get(reverse("status-company-csv", args=[acme.pk]))
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {r["role"]: r["state"] for r in rows} == {
        "Broken": "Failed",
        "Data Scientist": "Ready",
        "Never Pushed": "Draft",
    }
    assert rows[1]["ai_automation_score"] == "61.5"


def test_the_pages_cost_the_same_queries_for_10_or_100_roles(csm_client, acme, count_queries):
    def measure(n):
        roles = [ready_role(company=acme) for _ in range(n)]
        batch = batch_push(role_ids=[r.pk for r in roles])
        batch.runs.update(status=RunStatus.FAILED, error={"error": "SERVER_ERROR", "message": "x"})
        return [
            count_queries(lambda url=url: csm_client.get(url))
            for url in (
                reverse("status-batch", args=[batch.pk]),
                reverse("status-company", args=[acme.pk]),
                reverse("status-index"),
                reverse("status-role", args=[roles[0].pk]),
            )
        ]

    measure(1)
    assert measure(10) == measure(100)


def test_staff_see_every_company(client, acme):
    boss = UserFactory()
    boss.user_permissions.add(Permission.objects.get(codename="view_all_companies"))
    CompanyFactory(name="Walmart Inc.")
    client.force_login(boss)
    body = client.get(reverse("status-index")).content.decode()
    assert "Acme Corporation" in body and "Walmart Inc." in body


def test_the_admin_links_to_the_status_pages(admin_client, acme):
    role = ready_role(company=acme)
    body = admin_client.get(reverse("admin:onboarding_role_change", args=[role.pk])).content.decode()
    assert "View on site" in body
    assert admin_client.get(f"/admin/r/{_ct(Role)}/{role.pk}/").url.endswith(
        reverse("status-role", args=[role.pk])
    )


def _ct(model):
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(model).pk
