"""/api/v1/pipeline/*: the documented requests get the documented shapes; auth, scope, errors."""

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from batches.services import batch_push
from onboarding import services
from onboarding.models import Company, Role, RoleDocument, RoleState, Run, RunStatus
from onboarding.pipeline.steps import step_names
from tests.factories import CompanyFactory, UserFactory, force_state, ready_role

pytestmark = pytest.mark.django_db
BASE = "/api/v1/pipeline/"
CLAIMS_JD = "# Claims Adjuster\n\n## Overview\nThe Claims Adjuster investigates insurance claims..."


def detail(response):
    return response.json()["detail"]


def test_push_with_inline_jd_creates_the_role_and_answers_the_documented_shape(api, liberty):
    response = api.post(
        BASE + "push",
        {
            "company_id": "Liberty Mutual",
            "role_name": "Claims Adjuster",
            "draup_role_name": "Insurance Claims Specialist",
            "documents": [{"type": "job_description", "content": CLAIMS_JD}],
            "options": {"notify_on_complete": True},
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert set(body) == {
        "workflow_id",
        "role_id",
        "role_outcome",
        "status",
        "estimated_duration_seconds",
        "position_in_queue",
        "message",
    }
    assert body["workflow_id"].startswith("role-onboard-") and body["status"] == "queued"
    assert body["role_outcome"] == "created"
    assert body["message"] == "Workflow started for Claims Adjuster at Liberty Mutual"
    assert body["position_in_queue"] == 1 and body["estimated_duration_seconds"] == 600
    role = Role.objects.get(name="Claims Adjuster")
    assert role.state == RoleState.QUEUED and role.documents.get().content == CLAIMS_JD


def test_push_without_documents_uses_the_stored_ones_and_without_any_is_a_400(api, liberty):
    ready_role(company=liberty, name="Underwriter")
    assert (
        api.post(
            BASE + "push", {"company_id": "Liberty Mutual", "role_name": "Underwriter"}, format="json"
        ).status_code
        == 200
    )
    response = api.post(
        BASE + "push",
        {"company_id": "Liberty Mutual", "role_name": "Risk Analyst", "draup_role_id": "DR-1"},
        format="json",
    )
    assert response.status_code == 400
    assert (
        detail(response)["error"] == "VALIDATION_ERROR" and "job description" in detail(response)["message"]
    )
    assert detail(response)["recoverable"] is True


def test_status_answers_exactly_the_documented_shape(api, liberty):
    run = services.role_push(role=ready_role(company=liberty, name="Claims Adjuster"))
    body = api.get(BASE + f"status/{run.workflow_id}").json()
    documented = {
        "workflow_id",
        "role_id",
        "company_id",
        "role_name",
        "status",
        "current_step",
        "progress",
        "queued_at",
        "started_at",
        "completed_at",
        "estimated_duration_seconds",
        "dashboard_url",
        "error",
    }
    assert documented <= set(body)
    assert body["status"] == "queued" and body["company_id"] == "Liberty Mutual"
    assert body["progress"]["total"] == len(step_names()) and body["progress"]["current"] == 0
    assert [s["name"] for s in body["progress"]["steps"]] == step_names()
    assert body["usage"] == {"input_tokens": 0, "output_tokens": 0}
    assert set(body["progress"]["steps"][0]) >= {
        "name",
        "status",
        "duration_ms",
        "started_at",
        "completed_at",
    }
    assert body["current_step"] == "role_setup" and body["dashboard_url"] is None and body["error"] is None


def test_status_costs_the_same_queries_however_many_steps_ran(api, liberty, django_assert_max_num_queries):
    run = services.role_push(role=ready_role(company=liberty))
    with django_assert_max_num_queries(9):
        api.get(BASE + f"status/{run.workflow_id}")


def test_a_csm_of_acme_gets_404_on_a_liberty_run(liberty):
    run = services.role_push(role=ready_role(company=liberty))
    acme_csm = UserFactory(can_push=True)
    CompanyFactory(name="Acme Corporation").csms.add(acme_csm)
    client = APIClient()
    client.force_authenticate(acme_csm)
    for method, path in [
        ("get", f"status/{run.workflow_id}"),
        ("post", f"cancel/{run.workflow_id}"),
        ("post", f"retry/{run.workflow_id}"),
        ("get", "roles/Liberty Mutual"),
        ("get", "history/Liberty Mutual"),
    ]:
        response = getattr(client, method)(BASE + path)
        assert response.status_code == 404 and detail(response)["error"] == "NOT_FOUND", path
    assert client.get(BASE + "companies").json() == {"companies": ["Acme Corporation"], "total_count": 1}
    response = client.post(
        BASE + "push",
        {"company_id": "Liberty Mutual", "role_name": "X", "documents": [{"content": "jd"}]},
        format="json",
    )
    assert response.status_code == 404 and not Role.objects.filter(name="X").exists()


def test_everything_but_health_needs_authentication(liberty):
    client = APIClient()
    for path in ["companies", "metadata", "roles/Liberty Mutual", "status/x", "history/Liberty Mutual"]:
        response = client.get(BASE + path)
        assert response.status_code == 401 and detail(response)["error"] == "UNAUTHORIZED", path
    assert client.post(BASE + "push", {}, format="json").status_code == 401


def test_pushing_needs_the_push_permission(liberty):
    viewer = UserFactory()
    liberty.csms.add(viewer)
    client = APIClient()
    client.force_authenticate(viewer)
    ready_role(company=liberty, name="Underwriter")
    response = client.post(
        BASE + "push", {"company_id": "Liberty Mutual", "role_name": "Underwriter"}, format="json"
    )
    assert response.status_code == 403 and detail(response)["error"] == "FORBIDDEN"
    assert client.get(BASE + "companies").status_code == 200


def test_a_push_of_a_role_in_flight_is_a_409_with_the_existing_workflow_id(api, liberty):
    run = services.role_push(role=ready_role(company=liberty, name="Underwriter"))
    response = api.post(
        BASE + "push", {"company_id": "Liberty Mutual", "role_name": "Underwriter"}, format="json"
    )
    assert response.status_code == 409
    assert detail(response)["error"] == "CONFLICT" and detail(response)["workflow_id"] == run.workflow_id


def test_retry_of_a_ready_run_is_an_invalid_transition_with_states(api, liberty):
    role = ready_role(company=liberty)
    run = services.role_push(role=role)
    Run.objects.filter(pk=run.pk).update(status=RunStatus.READY)
    force_state(role, RoleState.READY)
    response = api.post(BASE + f"retry/{run.workflow_id}")
    assert response.status_code == 400
    assert detail(response)["error"] == "INVALID_TRANSITION"
    assert detail(response)["current_state"] == "READY" and detail(response)["target_state"] == "QUEUED"


def test_cancel_and_retry_answer_the_status(api, liberty):
    run = services.role_push(role=ready_role(company=liberty))
    body = api.post(BASE + f"cancel/{run.workflow_id}").json()
    assert body["status"] == "failed" and body["error"]["error"] == "CANCELLED"
    body = api.post(BASE + f"retry/{run.workflow_id}").json()
    assert body["status"] == "queued" and body["workflow_id"] == run.workflow_id


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({}, "company_id"),
        ({"company_id": "Liberty Mutual", "role_name": ""}, "role_name"),
        (
            {"company_id": "Liberty Mutual", "role_name": "R", "documents": [{"type": "job_description"}]},
            "exactly one",
        ),
        (
            {
                "company_id": "Liberty Mutual",
                "role_name": "R",
                "documents": [{"type": "resume", "content": "x"}],
            },
            "type",
        ),
        ({"company_id": "Liberty Mutual", "role_name": "R", "documents": [{"uri": "not a url"}]}, "uri"),
        ({"company_id": "Liberty Mutual", "role_name": "R", "documents": "nope"}, "documents"),
    ],
)
def test_bad_push_bodies_are_400s_that_say_what_is_wrong_and_store_nothing(api, liberty, body, words):
    response = api.post(BASE + "push", body, format="json")
    assert response.status_code == 400 and detail(response)["error"] == "VALIDATION_ERROR"
    assert words in detail(response)["message"]
    assert not Role.objects.exists() and not RoleDocument.objects.exists()


def test_a_body_that_is_not_json_is_a_400(api):
    response = api.generic("POST", BASE + "push", "{nope", content_type="application/json")
    assert response.status_code == 400 and detail(response)["error"] == "VALIDATION_ERROR"


def test_use_mock_marks_the_run_for_the_simulator(api, liberty):
    response = api.post(
        BASE + "push?use_mock=true",
        {
            "company_id": "Liberty Mutual",
            "role_name": "Claims Adjuster",
            "draup_role_name": "Claims",
            "documents": [{"content": CLAIMS_JD}],
        },
        format="json",
    )
    assert Run.objects.get(workflow_id=response.json()["workflow_id"]).options["use_mock"] is True


def test_roles_and_companies_answer_the_documented_shapes(api, liberty):
    ready_role(
        company=liberty,
        name="Claims Adjuster",
        draup_role_name="Insurance Claims Specialist",
        occupation="Claims Specialist",
        job_family="Claims Operations",
    )
    body = api.get(BASE + "roles/Liberty Mutual").json()
    assert body["company_name"] == "Liberty Mutual" and body["total_count"] == 1
    role = body["roles"][0]
    assert set(role) == {
        "job_id",
        "job_title",
        "job_role",
        "draup_role",
        "occupation",
        "job_family",
        "status",
    }
    assert (role["job_title"], role["draup_role"], role["status"]) == (
        "Claims Adjuster",
        "Insurance Claims Specialist",
        "draft",
    )
    assert api.get(BASE + "companies").json() == {"companies": ["Liberty Mutual"], "total_count": 1}


def test_push_batch_accepts_refuses_and_reports_by_role(api, liberty):
    ready_role(company=liberty, name="Underwriter")
    response = api.post(
        BASE + "push-batch",
        {
            "roles": [
                {"company_id": "Liberty Mutual", "role_name": "Underwriter"},
                {
                    "company_id": "Liberty Mutual",
                    "role_name": "Claims Adjuster",
                    "draup_role_name": "Claims",
                    "documents": [{"content": CLAIMS_JD}],
                },
                {"company_id": "Liberty Mutual", "role_name": "No JD", "draup_role_id": "x"},
                {"company_id": "Nobody Inc.", "role_name": "Ghost"},
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["batch_id"].startswith("batch-")
    assert [a["role_name"] for a in body["accepted"]] == ["Underwriter", "Claims Adjuster"]
    refused = {r["role_name"]: r["error"] for r in body["refused"]}
    assert refused == {"No JD": "VALIDATION_ERROR", "Ghost": "NOT_FOUND"}

    status = api.get(BASE + f"batch-status/{body['batch_id']}").json()
    # every refused item counts on the batch, the unknown company's too
    assert status["total"] == 2 and status["counts"]["queued"] == 2 and status["refused"] == 2
    assert not Role.objects.filter(name__in=["No JD", "Ghost"]).exists()  # a refusal writes nothing
    assert status["percent_done"] == 0.0 and status["estimated_seconds_left"] is None
    retried = api.post(BASE + f"retry-failed/{body['batch_id']}").json()
    assert retried == {"batch_id": body["batch_id"], "retried": 0, "refused": 0}


def test_push_batch_refuses_an_empty_list(api):
    response = api.post(BASE + "push-batch", {"roles": []}, format="json")
    assert response.status_code == 400 and "roles" in detail(response)["message"]


def test_batch_status_costs_the_same_queries_for_5_or_50_roles(api, liberty, count_queries):
    def measure(n):
        batch = batch_push(role_ids=[ready_role(company=liberty).pk for _ in range(n)])
        return count_queries(lambda: api.get(BASE + f"batch-status/{batch.batch_id}"))

    measure(1)
    assert measure(5) == measure(50)


def test_history_is_newest_first_paginated_and_filterable(api, liberty):
    roles = [ready_role(company=liberty) for _ in range(3)]
    runs = [services.role_push(role=r) for r in roles]
    Run.objects.filter(pk=runs[0].pk).update(status=RunStatus.FAILED)
    body = api.get(BASE + "history/Liberty Mutual", {"page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]
    assert body["results"][0]["workflow_id"] == runs[2].workflow_id
    failed = api.get(BASE + "history/Liberty Mutual", {"status": "failed"}).json()
    assert [r["workflow_id"] for r in failed["results"]] == [runs[0].workflow_id]
    response = api.get(BASE + "history/Liberty Mutual", {"status": "bogus"})
    assert response.status_code == 400 and "status must be one of" in detail(response)["message"]


def test_metadata_lists_states_transitions_and_steps(api):
    body = api.get(BASE + "metadata").json()
    assert {s["value"] for s in body["states"]} >= {"DRAFT", "READY", "STALE"}
    assert body["transitions"]["FAILED"] == ["QUEUED"]
    assert [s["name"] for s in body["steps"]] == step_names()
    assert body["steps"][1] == {
        "name": "ai_assessment",
        "substate": "AI_ASSESSMENT",
        "optional": False,
        "needs": ["role_setup"],
        "max_attempts": 5,
    }
    assert {"SKILLS", "FINALIZE"} <= set(body["substates"])


def test_health_is_open_and_says_what_is_down(client, settings):
    settings.DRAUP_WORLD_BASE_URL = "http://127.0.0.1:9/nothing-listens-here"
    response = client.get(BASE + "health")
    assert response.status_code == 503
    body = response.json()
    assert body["components"]["database"] == "healthy" and body["components"]["draup_world"] == "down"
    assert set(body) == {"status", "version", "timestamp", "components"}


def test_health_is_200_when_all_parts_answer(client, settings):
    from django.utils import timezone

    from onboarding.models import PipelineRunner

    # Workers are alive when a runner's own heartbeat is recent (not when a schedule moved).
    PipelineRunner.objects.create(
        name="w", cluster="c", host="h", pid=1, capacity=1, heartbeat_at=timezone.now()
    )
    settings.DRAUP_WORLD_BASE_URL = settings.SITE_URL + "/simulator"
    body = client.get(BASE + "health").json()
    assert body["status"] == "healthy" and body["components"]["workers"] == "healthy"


def test_drf_create_token_works_for_a_user(csm):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("drf_create_token", csm.username, stdout=out)
    assert Token.objects.get(user=csm).key in out.getvalue()


def test_the_schema_and_swagger_ui_are_served(client):
    schema = client.get(reverse("api-schema"))
    assert schema.status_code == 200 and b"/api/v1/pipeline/push" in schema.content
    assert client.get(reverse("api-docs")).status_code == 200


def test_a_user_is_throttled_with_a_429(api, settings):
    from django.core.cache import cache
    from rest_framework.throttling import UserRateThrottle

    cache.clear()
    original = UserRateThrottle.THROTTLE_RATES
    UserRateThrottle.THROTTLE_RATES = {"user": "2/min"}
    try:
        answers = [api.get(BASE + "companies") for _ in range(3)]
        other = APIClient()
        other.force_authenticate(UserFactory())
        others = other.get(BASE + "companies").status_code  # another user has their own count
    finally:
        UserRateThrottle.THROTTLE_RATES = original
        cache.clear()
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["detail"]["error"] == "RATE_LIMITED"
    assert 0 < int(answers[2]["Retry-After"]) <= 60  # until the minute's window ends
    assert others == 200


def test_the_rate_limit_counts_again_in_the_next_window(api, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import UserRateThrottle

    from onboarding.api.throttling import FixedWindowUserThrottle

    clock = [120.0]
    monkeypatch.setattr(FixedWindowUserThrottle, "timer", lambda self: clock[0])
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "2/min"})
    cache.clear()
    try:
        codes = [api.get(BASE + "companies").status_code for _ in range(3)]
        clock[0] = 180.0  # the next minute
        codes += [api.get(BASE + "companies").status_code for _ in range(3)]
    finally:
        cache.clear()
    assert codes == [200, 200, 429, 200, 200, 429]


def test_staff_with_the_global_view_see_every_company(liberty):
    CompanyFactory(name="Walmart Inc.")
    boss = UserFactory(is_superuser=True)
    client = APIClient()
    client.force_authenticate(boss)
    assert client.get(BASE + "companies").json()["total_count"] == 2
    assert Company.objects.count() == 2


def test_pushing_the_same_documents_again_does_not_duplicate_them(api, liberty):
    body = {
        "company_id": "Liberty Mutual",
        "role_name": "Claims Adjuster",
        "draup_role_name": "Claims",
        "documents": [{"type": "job_description", "content": CLAIMS_JD}],
    }
    run = api.post(BASE + "push", body, format="json").json()
    api.post(BASE + f"cancel/{run['workflow_id']}")
    api.post(BASE + "push", body, format="json")
    assert RoleDocument.objects.count() == 1


def test_a_ready_role_is_rerun_when_a_new_jd_is_pushed_or_force_rerun_is_asked(api, liberty):
    role = force_state(ready_role(company=liberty, name="Underwriter"), RoleState.READY)
    same = {"company_id": "Liberty Mutual", "role_name": "Underwriter"}
    response = api.post(BASE + "push", same, format="json")
    assert response.status_code == 400 and detail(response)["error"] == "INVALID_TRANSITION"
    response = api.post(BASE + "push", {**same, "documents": [{"content": "# New JD"}]}, format="json")
    assert response.status_code == 200
    assert Role.objects.get(pk=role.pk).state == RoleState.QUEUED
    other = force_state(ready_role(company=liberty, name="Risk Analyst"), RoleState.READY)
    response = api.post(
        BASE + "push",
        {"company_id": "Liberty Mutual", "role_name": "Risk Analyst", "options": {"force_rerun": True}},
        format="json",
    )
    assert response.status_code == 200 and Role.objects.get(pk=other.pk).state == RoleState.QUEUED
