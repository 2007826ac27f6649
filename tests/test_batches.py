"""Batches over the live simulator: many roles as one push, counted, retried, held to limits."""

import threading
import time

import pytest
from django.utils import timezone

from batches.models import Batch
from batches.selectors import batch_status
from batches.services import batch_push, batch_retry_failed
from onboarding.contract import ENHANCEMENTS
from onboarding.draup_world import CREATE_COMPANY_ROLE, RUN_AI_ASSESSMENT
from onboarding.errors import AppError
from onboarding.models import Role, RoleState, Run, RunAttempt, RunStatus, SimulatorCall, Throttle
from onboarding.selectors import queue_position
from onboarding.tasks import pipeline_work
from tests.factories import CompanyFactory, RoleFactory, ready_role
from tests.helpers import run_in_threads, start_thread

pytestmark = pytest.mark.django_db(transaction=True)


def make_roles(n, **kwargs):
    company = kwargs.pop("company", None) or CompanyFactory()
    return [ready_role(company=company, **kwargs) for _ in range(n)]


def work_in_threads(n=2):
    run_in_threads(pipeline_work, n)


def test_a_batch_larger_than_the_runners_hold_ends_all_ready(simulator, settings):
    """Two runners holding 10 runs each, 60 roles: each runner takes more as runs end. (The
    scale itself, 2,500 roles, is counted in queries in test_accept_at_scale.)"""
    settings.PIPELINE_RUNS_PER_RUNNER = 10
    roles = make_roles(60)
    batch = batch_push(role_ids=[r.pk for r in roles])
    taken = []
    run_in_threads(lambda: taken.append(pipeline_work()), 2)
    assert sum(taken) == 60 and max(taken) > 10  # each took more as its runs ended
    status = batch_status(batch)
    assert status.counts[RunStatus.READY] == 60 and status.percent_done == 100.0
    assert status.finished_at is not None and status.seconds_left == 0.0
    assert simulator.calls(RUN_AI_ASSESSMENT) == 60


def test_refused_roles_are_listed_with_their_reasons_and_the_rest_queued(simulator):
    good = make_roles(3)
    no_jd = RoleFactory()
    batch = batch_push(role_ids=[r.pk for r in good] + [no_jd.pk, 999999])
    reasons = {(r.role_name, r.code) for r in batch.refusals.all()}
    assert (no_jd.name, "VALIDATION_ERROR") in reasons and ("", "NOT_FOUND") in reasons
    assert batch.runs.count() == 3 and batch.requested == 5
    assert batch_status(batch).refused == 2


def test_an_empty_batch_is_refused_and_a_batch_of_all_refused_roles_is_recorded():
    with pytest.raises(AppError, match="Select at least one role"):
        batch_push(role_ids=[])
    assert not Batch.objects.exists()
    batch = batch_push(role_ids=[RoleFactory().pk, RoleFactory().pk])
    status = batch_status(batch)
    assert status.total == 0 and status.refused == 2 and status.percent_done == 100.0


def test_retry_failed_brings_only_the_failed_roles_back(simulator):
    roles = make_roles(6)
    simulator.fault(CREATE_COMPANY_ROLE, "400", times=2)
    batch = batch_push(role_ids=[r.pk for r in roles])
    pipeline_work()
    status = batch_status(batch)
    assert status.counts[RunStatus.FAILED] == 2 and status.counts[RunStatus.READY] == 4
    assert all(run.error["message"] for run in status.failures)
    ready_finished = dict(Run.objects.filter(status=RunStatus.READY).values_list("pk", "finished_at"))
    calls_before = SimulatorCall.objects.count()

    assert batch_retry_failed(batch=batch) == (2, 0)
    pipeline_work()
    assert batch_status(batch).counts[RunStatus.READY] == 6
    assert dict(Run.objects.filter(pk__in=ready_finished).values_list("pk", "finished_at")) == ready_finished
    # Only the two retried roles called: the critical path's three calls and the seven enhancements.
    assert SimulatorCall.objects.count() - calls_before == 2 * (3 + len(ENHANCEMENTS))
    assert batch.runs.count() == 6  # same runs, same batch


def test_batch_creation_and_status_cost_the_same_queries_for_20_or_200_roles(count_queries):
    def measure(n):
        ids = [r.pk for r in make_roles(n)]
        created = count_queries(lambda: batch_push(role_ids=ids))
        batch = Batch.objects.latest("id")
        return created, count_queries(lambda: batch_status(batch))

    measure(2)  # warm the per-process caches (content types) first
    assert measure(20) == measure(200)


def test_the_estimate_comes_from_the_recent_completion_rate():
    roles = make_roles(4)
    batch = batch_push(role_ids=[r.pk for r in roles])
    assert batch_status(batch).seconds_left is None  # nothing finished yet: unknown
    Batch.objects.filter(pk=batch.pk).update(created_at=timezone.now() - timezone.timedelta(seconds=60))
    Run.objects.filter(pk__in=list(batch.runs.values_list("pk", flat=True)[:2])).update(
        status=RunStatus.READY, finished_at=timezone.now()
    )
    batch.refresh_from_db()
    left = batch_status(batch).seconds_left
    assert 50 <= left <= 70  # 2 done in 60 s, 2 to go


def test_no_more_than_the_company_limit_are_in_flight_at_once(simulator, settings):
    settings.PIPELINE_COMPANY_CONCURRENCY = 2
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {RUN_AI_ASSESSMENT: 0.3}}
    busy = make_roles(8)
    other = make_roles(2)
    batch = batch_push(role_ids=[r.pk for r in busy + other])
    company = busy[0].company_id
    peak, done = [0], threading.Event()

    def sample():
        while not done.is_set():
            held = Run.objects.filter(
                role__company_id=company,
                status__in=["QUEUED", "PROCESSING"],
                lease_expires_at__gt=timezone.now(),
            ).count()
            peak[0] = max(peak[0], held)
            time.sleep(0.02)

    sampler = start_thread(sample)
    work_in_threads(4)
    done.set()
    sampler.join()
    assert batch_status(batch).counts[RunStatus.READY] == 10
    assert peak[0] == 2


def test_waiting_roles_know_their_place_in_their_companys_queue():
    roles = make_roles(3)
    runs = batch_push(role_ids=[r.pk for r in roles]).runs.order_by("queued_at", "id")
    assert [queue_position(run) for run in runs] == [1, 2, 3]


def test_assessments_are_paced_across_workers_and_a_429_slows_the_pace(simulator, settings):
    settings.PIPELINE_ASSESSMENTS_PER_MINUTE = 120  # one start every 0.5 s
    roles = make_roles(4)
    batch_push(role_ids=[r.pk for r in roles])
    work_in_threads(3)
    assert Role.objects.filter(state=RoleState.READY).count() == 4
    starts = list(  # when the pipeline started each call: what pacing governs
        RunAttempt.objects.filter(call=RUN_AI_ASSESSMENT)
        .order_by("started_at")
        .values_list("started_at", flat=True)
    )
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.4
    simulator.fault(RUN_AI_ASSESSMENT, "429", retry_after=0)
    batch_push(role_ids=[ready_role().pk])
    pipeline_work()
    assert Throttle.objects.get(name="run_ai_assessment").rate_factor < 1.0
