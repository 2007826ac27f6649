"""Stats (GET /api/v1/pipeline/stats), Prometheus /metrics and the health endpoint: right
figures after a known batch, in a constant number of queries, behind the right door."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from batches.services import batch_push
from onboarding import services
from onboarding.draup_world import RUN_AI_ASSESSMENT
from onboarding.models import PipelineRunner, Role, Run, RunAttempt, RunStatus, RunStep
from operations.models import Delivery, DeliveryAttempt, SlaConfig
from operations.services import events_process
from tests.factories import CompanyFactory, RoleFactory, UserFactory, ready_role

pytestmark = pytest.mark.django_db(transaction=True)
STATS = "/api/v1/pipeline/stats"


@pytest.fixture
def known_batch(simulator, work):
    """Acme: 3 roles pushed as a batch (2 READY, 1 FAILED needing the CSM, all past a tiny
    SLA), then 1 more role queued and not yet worked on."""
    acme = CompanyFactory(name="Acme")
    SlaConfig.objects.create(company=acme, target_minutes=0.0001)
    roles = [ready_role(company=acme) for _ in range(3)]
    simulator.fault(RUN_AI_ASSESSMENT, "400")
    batch_push(role_ids=[r.pk for r in roles])
    work()
    events_process()
    services.role_push(role=ready_role(company=acme))
    return acme


def test_stats_give_every_figure_for_the_window(known_batch, admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    body = client.get(STATS, {"window": "1h"}).json()
    assert body["roles_by_state"] == {"READY": 2, "FAILED": 1, "QUEUED": 1}
    assert body["runs_by_status"] == {"QUEUED": 1, "PROCESSING": 0, "READY": 2, "DEGRADED": 0, "FAILED": 1}
    assert body["success_rate"] == 0.6667 and body["retry_rate"] == 0.0
    steps = body["durations_seconds"]["steps"]
    assert steps["role_setup"]["count"] == 3 and steps["ai_assessment"]["count"] == 2
    assert (
        0 <= steps["ai_assessment"]["p50"] <= steps["ai_assessment"]["p95"] <= steps["ai_assessment"]["p99"]
    )
    assert body["durations_seconds"]["push_to_ready"]["count"] == 2
    assert body["queue_wait_seconds"]["count"] == 3
    assert body["sla"] == {"met": 0, "breached": 3, "in_flight_within_target": 1}
    assert body["events"]["waiting"] == 1 and body["events"]["lag_seconds"] >= 0
    # The two READY runs' LLM-backed steps: the assessment and three enhancements each.
    assert body["tokens"]["steps_reporting"] == 8
    assert body["tokens"]["input"] > 0 and body["tokens"]["output"] > 0
    old = client.get(STATS, {"since": "2020-01-01T00:00:00Z", "until": "2020-01-02T00:00:00Z"}).json()
    assert old["runs_by_status"]["READY"] == 0 and old["success_rate"] is None


def test_stats_are_for_staff_who_see_every_company(db):
    client = APIClient()
    assert client.get(STATS).status_code == 401
    client.force_authenticate(UserFactory(is_staff=True))
    response = client.get(STATS)
    assert response.status_code == 403 and response.json()["detail"]["error"] == "FORBIDDEN"


def test_a_bad_window_is_refused_with_what_to_fix(admin_user):
    client = APIClient()
    client.force_authenticate(admin_user)
    response = client.get(STATS, {"window": "soon"})
    assert response.status_code == 400 and response.json()["detail"]["error"] == "VALIDATION_ERROR"
    response = client.get(STATS, {"since": "2030-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"})
    assert response.status_code == 400 and "since" in response.json()["detail"]["message"]


def make_finished_runs(n: int) -> None:
    company = CompanyFactory()
    roles = Role.objects.bulk_create([RoleFactory.build(company=company) for _ in range(n)])
    now = timezone.now()
    runs = Run.objects.bulk_create(
        [Run(role=r, status=RunStatus.READY, started_at=now, finished_at=now) for r in roles]
    )
    RunStep.objects.bulk_create(
        [
            RunStep(run=run, name="ai_assessment", position=1, status="completed", duration_ms=i)
            for i, run in enumerate(runs)
        ]
    )


def test_stats_and_a_scrape_cost_the_same_queries_for_10_or_300_runs(admin_user, count_queries, settings):
    from operations.stats import Window, pipeline_stats

    settings.METRICS_TOKEN = "t0ken"
    client = APIClient()
    window = Window(since=timezone.now() - timedelta(hours=1), until=timezone.now() + timedelta(hours=1))

    def measure(n):
        make_finished_runs(n)
        scrape = count_queries(lambda: client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken"))
        return count_queries(lambda: pipeline_stats(window)), scrape

    assert measure(10) == measure(300)


def series(text: str) -> dict:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_have_every_series_with_the_right_values_after_a_known_batch(known_batch, client, settings):
    settings.METRICS_TOKEN = "t0ken"
    run = Run.objects.filter(status=RunStatus.FAILED).get()
    now = timezone.now()
    # The batch's own attempts (create and link for 3 roles, 2 assessments answered, 1 refused
    # with 400) and one more, a 503 of an earlier round.
    RunAttempt.objects.create(
        run=run, step="ai_assessment", call="run_ai_assessment", round=0, number=1, max_attempts=5,
        outcome="retrying", started_at=now, error={"error": "SERVER_ERROR"},
    )  # fmt: skip
    for name, host, beat in [("w1", "h1", now), ("w0", "h0", now - timedelta(hours=1))]:
        PipelineRunner.objects.create(name=name, cluster="c", host=host, pid=1, capacity=4, heartbeat_at=beat)
    delivery = Delivery.objects.create(channel="webhook", target="https://x.example/hook")
    for number, outcome in [(1, "retry"), (2, "retry"), (3, "sent")]:
        DeliveryAttempt.objects.create(delivery=delivery, number=number, outcome=outcome)

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    got = series(response.content.decode())
    acme = (("company", "Acme"),)
    assert got[("etter_queue_depth", acme)] == 1 and got[("etter_runs_in_flight", acme)] == 0
    assert got[("etter_runs_finished_total", (("status", "ready"),))] == 2
    assert got[("etter_runs_finished_total", (("status", "failed"),))] == 1
    assert got[("etter_step_attempts_total", (("error", "SERVER_ERROR"), ("step", "ai_assessment")))] == 1
    assert got[("etter_step_attempts_total", (("error", "INVALID_REQUEST"), ("step", "ai_assessment")))] == 1
    assert got[("etter_step_attempts_total", (("error", "none"), ("step", "role_setup")))] == 6
    assert got[("etter_step_attempts_total", (("error", "none"), ("step", "ai_assessment")))] == 2
    assert got[("etter_step_duration_seconds_count", (("step", "ai_assessment"),))] == 2
    assert got[("etter_step_duration_seconds_bucket", (("le", "+Inf"), ("step", "role_setup")))] == 3
    assert got[("etter_push_to_ready_seconds_count", ())] == 2
    assert got[("etter_push_to_ready_seconds_bucket", (("le", "7200.0"),))] == 2
    assert got[("etter_queue_wait_seconds_count", ())] == 3
    assert got[("etter_sla_breaches_total", ())] == 3 and got[("etter_sla_breached_in_flight", ())] == 0
    assert got[("etter_events_unprocessed", ())] == 1 and got[("etter_event_lag_seconds", ())] >= 0
    assert got[("etter_webhook_deliveries_total", (("outcome", "retry"),))] == 2
    assert got[("etter_webhook_deliveries_total", (("outcome", "sent"),))] == 1
    assert got[("etter_workers_alive", ())] == 1
    assert got[("etter_worker_heartbeat_age_seconds", (("host", "h0"), ("runner", "w0")))] >= 3600


def test_metrics_need_the_bearer_token_or_a_staff_session(client, admin_client, settings):
    settings.METRICS_TOKEN = "t0ken"
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken").status_code == 200
    assert admin_client.get("/metrics").status_code == 200
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def test_health_probes_draup_world_at_most_once_per_few_seconds(client, settings, monkeypatch):
    from onboarding import health

    settings.DRAUP_WORLD_BASE_URL = "http://127.0.0.1:9/probe-cache-test"
    cache.clear()
    calls = []
    monkeypatch.setattr(health.requests, "get", lambda *a, **k: calls.append(a))
    for _ in range(5):
        assert client.get("/api/v1/pipeline/health").json()["components"]["draup_world"] == "healthy"
    assert len(calls) == 1


def test_workers_are_alive_when_a_runner_heartbeat_is_recent(client, settings):
    def workers():
        return client.get("/api/v1/pipeline/health").json()["components"]["workers"]

    assert workers() == "down"
    stale = timezone.now() - timedelta(seconds=settings.PIPELINE_LEASE_SECONDS + 5)
    PipelineRunner.objects.create(name="w0", cluster="c", host="h", pid=1, capacity=1, heartbeat_at=stale)
    assert workers() == "down"
    PipelineRunner.objects.create(
        name="w1", cluster="c", host="h", pid=2, capacity=1, heartbeat_at=timezone.now()
    )
    assert workers() == "healthy"
