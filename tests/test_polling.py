"""GET status, batch-status and the live partials under many pollers: one query per poll from a
cache keyed by the run's version, the same bytes as before, ETag/304, scope, never backwards."""

import random
import threading
import time

import pytest
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from batches.services import batch_push
from onboarding import polling, services
from onboarding.models import Role, RoleDocument, RoleState, Run, RunStatus, RunStep
from onboarding.pipeline.steps import step_names
from onboarding.polling import run_status
from onboarding.selectors import run_for, status_head
from tests.factories import CompanyFactory, UserFactory, force_state, ready_role

pytestmark = pytest.mark.django_db
BASE = "/api/v1/pipeline/"


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.fixture
def api(csm):
    return token_client(csm)


def advance(run: Run, *, complete: bool = False) -> None:
    """What the engine does to a step, in one transaction with the version bump."""
    with transaction.atomic():
        step = run.steps.exclude(status="completed").order_by("position").first()
        step.attempts += 1
        step.started_at = step.started_at or timezone.now()
        step.status = "completed" if complete else "running"
        if complete:
            step.finished_at, step.duration_ms = timezone.now(), 1500
        step.save()
        Run.objects.filter(pk=run.pk).update(
            status=RunStatus.PROCESSING, started_at=timezone.now(), version=F("version") + 1
        )


def ready_roles(company, n: int, prefix: str) -> list[int]:
    """n pushable roles in a few queries (the factories take a query or more each)."""
    roles = Role.objects.bulk_create(
        [Role(company=company, name=f"{prefix} {i}", draup_role_name="Analyst") for i in range(n)]
    )
    RoleDocument.objects.bulk_create(
        [RoleDocument(role=r, content=f"# {r.name}\nDoes it.", format="text") for r in roles]
    )
    return [r.pk for r in roles]


def expected_bytes(run: Run) -> bytes:
    """The answer of the plain (uncached) path, rendered as the API renders it."""
    return JSONRenderer().render(run_status(run_for_superuser(run)))


def run_for_superuser(run: Run) -> Run:
    return run_for(UserFactory(is_superuser=True), run.workflow_id)


def test_status_answers_byte_for_byte_what_the_plain_path_answers_in_every_state(api, liberty):
    queued = [services.role_push(role=ready_role(company=liberty)) for _ in range(3)]
    running = services.role_push(role=ready_role(company=liberty))
    advance(running, complete=True)
    advance(running)
    ready = services.role_push(role=ready_role(company=liberty))
    Run.objects.filter(pk=ready.pk).update(status=RunStatus.READY, finished_at=timezone.now())
    Role.objects.filter(pk=ready.role_id).update(state=RoleState.READY, dashboard_url="https://etter/x")
    failed = services.role_push(role=ready_role(company=liberty))
    error = {"error": "SERVER_ERROR", "message": "draup-world had trouble", "recoverable": True}
    Run.objects.filter(pk=failed.pk).update(status=RunStatus.FAILED, error=error)
    stale = services.role_push(role=ready_role(company=liberty))
    Run.objects.filter(pk=stale.pk).update(status=RunStatus.READY)
    force_state(stale.role, RoleState.STALE)
    for run in [*queued, running, ready, failed, stale]:
        for _ in range(2):  # built, then from the cache
            response = api.get(BASE + f"status/{run.workflow_id}")
            assert response.status_code == 200
            assert response.content == expected_bytes(run), run.workflow_id
    statuses = [api.get(BASE + f"status/{r.workflow_id}").json()["status"] for r in (running, ready, stale)]
    assert statuses == ["processing", "ready", "stale"]
    assert [api.get(BASE + f"status/{r.workflow_id}").json()["position_in_queue"] for r in queued] == [
        1,
        2,
        3,
    ]


def test_a_poll_of_an_unchanged_run_costs_one_query(api, liberty, django_assert_num_queries):
    run = services.role_push(role=ready_role(company=liberty))
    advance(run)
    api.get(BASE + f"status/{run.workflow_id}")  # the token, the run's core: cached now
    with django_assert_num_queries(1):
        assert api.get(BASE + f"status/{run.workflow_id}").status_code == 200
    advance(run)  # a new version: the head, then the steps, attempts and run of that version
    with django_assert_num_queries(4):
        assert api.get(BASE + f"status/{run.workflow_id}").json()["progress"]["steps"][0]["attempts"] == 2


def test_an_unchanged_run_answers_304_to_its_etag_and_200_once_it_changes(api, liberty):
    run = services.role_push(role=ready_role(company=liberty))
    first = api.get(BASE + f"status/{run.workflow_id}")
    etag = first["ETag"]
    assert etag.startswith(f'W/"{run.workflow_id}:0:') and first["Cache-Control"] == "private, no-cache"
    again = api.get(BASE + f"status/{run.workflow_id}", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304 and again.content == b"" and again["ETag"] == etag
    assert (
        api.get(BASE + f"status/{run.workflow_id}", HTTP_IF_NONE_MATCH='"other", ' + etag).status_code == 304
    )
    advance(run)
    changed = api.get(BASE + f"status/{run.workflow_id}", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert changed.json()["status"] == "processing"


def test_the_etag_changes_when_only_the_queue_place_changes(api, liberty):
    first, second = (services.role_push(role=ready_role(company=liberty)) for _ in range(2))
    before = api.get(BASE + f"status/{second.workflow_id}")
    assert before.json()["position_in_queue"] == 2
    Run.objects.filter(pk=first.pk).update(status=RunStatus.PROCESSING, version=F("version") + 1)
    polling.forget()  # the queue order is read again at most a second later
    after = api.get(BASE + f"status/{second.workflow_id}", HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 200 and after.json()["position_in_queue"] == 1


def test_a_csm_polling_another_companys_run_gets_404_also_with_its_etag(api, liberty, csm):
    run = services.role_push(role=ready_role(company=liberty))
    etag = api.get(BASE + f"status/{run.workflow_id}")["ETag"]
    acme_csm = UserFactory(can_push=True)
    CompanyFactory(name="Acme").csms.add(acme_csm)
    other = token_client(acme_csm)
    for headers in ({}, {"HTTP_IF_NONE_MATCH": etag}, {"HTTP_IF_NONE_MATCH": "*"}):
        response = other.get(BASE + f"status/{run.workflow_id}", **headers)
        assert response.status_code == 404 and response.json()["detail"]["error"] == "NOT_FOUND"
        assert "ETag" not in response


def test_marking_a_role_stale_changes_its_runs_answer(api, liberty):
    run = services.role_push(role=ready_role(company=liberty))
    Run.objects.filter(pk=run.pk).update(status=RunStatus.READY)
    role = force_state(run.role, RoleState.READY)
    etag = api.get(BASE + f"status/{run.workflow_id}")["ETag"]
    services.roles_mark_stale([role], reason="JD changed")
    assert Run.objects.get(pk=run.pk).version == run.version + 1
    response = api.get(BASE + f"status/{run.workflow_id}", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 200 and response.json()["status"] == "stale"


def test_a_core_read_while_the_run_changes_is_not_kept_under_the_older_version(csm, liberty):
    run = services.role_push(role=ready_role(company=liberty))
    head = status_head(csm, run.workflow_id)
    advance(run)  # lands between the head and the rest: the steps read next are the newer ones
    assert polling._core(head) is None
    answer = polling.status_answer(csm, run.workflow_id)  # read again, consistently
    assert answer.etag.startswith(f'W/"{run.workflow_id}:{head.version + 1}:')
    assert answer.body["progress"]["steps"][0]["attempts"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_poller_never_sees_a_step_go_backwards_while_the_run_moves(liberty, csm):
    """A writer moves the run on while a poller asks again and again, as if each answer came
    from a different server process (each with its own cache, sometimes empty)."""
    run = services.role_push(role=ready_role(company=liberty))
    client = token_client(csm)
    stop = threading.Event()

    def write():
        from django.db import connection

        try:
            for i in range(6):  # two steps: two attempts and a completion each
                advance(Run.objects.get(pk=run.pk), complete=i % 3 == 2)
                time.sleep(0.05)
        finally:
            stop.set()
            connection.close()

    writer = threading.Thread(target=write)
    writer.start()
    seen, answers = (-1, -1, -1), 0
    while not stop.is_set() or answers < 5:
        if random.random() < 0.5:
            polling.forget()
        response = client.get(BASE + f"status/{run.workflow_id}")
        body = response.json()
        now = (
            int(response["ETag"].split(":")[1]),
            body["progress"]["current"],
            sum(s["attempts"] for s in body["progress"]["steps"]),
        )
        assert now >= seen, (seen, now)
        seen, answers = now, answers + 1
    writer.join()
    assert seen[0] == Run.objects.get(pk=run.pk).version


def test_batch_status_answers_304_until_a_run_of_the_batch_changes(api, liberty, settings):
    settings.BATCH_STATUS_FRESH_SECONDS = 0  # computed on every request (see test_batch_polling)
    batch = batch_push(role_ids=[ready_role(company=liberty).pk for _ in range(3)])
    first = api.get(BASE + f"batch-status/{batch.batch_id}")
    assert first.status_code == 200 and first.json()["counts"]["queued"] == 3
    assert (
        api.get(BASE + f"batch-status/{batch.batch_id}", HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    )
    run = batch.runs.first()
    Run.objects.filter(pk=run.pk).update(
        status=RunStatus.READY, finished_at=timezone.now(), version=F("version") + 1
    )
    after = api.get(BASE + f"batch-status/{batch.batch_id}", HTTP_IF_NONE_MATCH=first["ETag"])
    assert after.status_code == 200 and after.json()["counts"] == {
        "queued": 2,
        "processing": 0,
        "ready": 1,
        "degraded": 0,
        "failed": 0,
    }


def test_batch_status_costs_the_same_queries_for_5_or_2500_roles(api, liberty, count_queries, settings):
    settings.API_AUTH_CACHE_SECONDS = 600  # a slow machine must not let the token's entry expire
    settings.BATCH_STATUS_FRESH_SECONDS = 600  # nor the answer's freshness pass between the two

    def measure(n):
        batch = batch_push(role_ids=ready_roles(liberty, n, f"B{n}"))
        assert batch.runs.count() == n
        api.get(BASE + f"batch-status/{batch.batch_id}")  # built once, then from the cache
        return count_queries(lambda: api.get(BASE + f"batch-status/{batch.batch_id}"))

    assert measure(5) == measure(2500) == 0  # the token, the batch, the scope and the answer: cached


def test_the_live_partials_answer_304_when_nothing_shown_changed(client, csm, liberty, settings):
    settings.BATCH_STATUS_FRESH_SECONDS = 0
    run = services.role_push(role=ready_role(company=liberty))
    batch = batch_push(role_ids=[ready_role(company=liberty).pk])
    client.force_login(csm)
    for url in (
        reverse("status-role-live", args=[run.role_id]),
        reverse("status-batch-live", args=[batch.pk]),
    ):
        first = client.get(url)
        assert first.status_code == 200 and first["Cache-Control"] == "private, no-cache"
        again = client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
        assert again.status_code == 304, url
    role_etag = client.get(reverse("status-role-live", args=[run.role_id]))["ETag"]
    advance(run)
    changed = client.get(reverse("status-role-live", args=[run.role_id]), HTTP_IF_NONE_MATCH=role_etag)
    assert changed.status_code == 200


def test_the_live_partials_of_another_company_are_404_also_with_an_etag(client, liberty):
    run = services.role_push(role=ready_role(company=liberty))
    other = UserFactory(can_push=True)
    CompanyFactory(name="Acme").csms.add(other)
    client.force_login(other)
    response = client.get(reverse("status-role-live", args=[run.role_id]), HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 404


def test_a_deleted_token_is_refused_once_its_cached_lookup_expires(api, csm, liberty):
    assert api.get(BASE + "companies").status_code == 200
    Token.objects.filter(user=csm).delete()
    polling.forget()  # API_AUTH_CACHE_SECONDS later
    response = api.get(BASE + "companies")
    assert response.status_code == 401 and response.json()["detail"]["error"] == "UNAUTHORIZED"


def test_steps_of_the_cached_core_come_in_their_order(api, liberty):
    run = services.role_push(role=ready_role(company=liberty))
    RunStep.objects.filter(run=run, name="ai_assessment").update(attempts=3)
    names = [s["name"] for s in api.get(BASE + f"status/{run.workflow_id}").json()["progress"]["steps"]]
    assert names == step_names()  # the graph's order: the critical path, then the enhancements
