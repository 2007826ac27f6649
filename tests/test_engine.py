"""The engine's guarantees without HTTP: optional steps, crashes in a step, lost and renewed
leases. Extra steps are added to the pipeline for a test, as a later step would be."""

import time

import pytest

from onboarding import services
from onboarding.draup_world import DraupWorldError
from onboarding.models import Role, RoleState, Run, RunStatus, RunStep
from onboarding.pipeline.claims import claim_runs
from onboarding.pipeline.policies import RetryPolicy
from onboarding.pipeline.steps import STEPS, Step
from tests.factories import ready_role

pytestmark = pytest.mark.django_db(transaction=True)
ONE_TRY = RetryPolicy(attempts=1, first_wait=0, cap=0)


@pytest.fixture
def only_steps():
    """Replace the pipeline's steps for one test (in place: every module sees the change)."""
    saved = list(STEPS)

    def use(*steps):
        STEPS[:] = steps

    yield use
    STEPS[:] = saved


def fake_assessment(ctx):
    ctx.save_output(ai_automation_score=50.0, tasks=[], impact={}, dashboard_url=None)


def push_and_work(work, role=None):
    run = services.role_push(role=role or ready_role())
    work()
    return Run.objects.get(pk=run.pk), Role.objects.get(pk=run.role_id)


def test_an_optional_step_that_fails_leaves_the_role_degraded_and_a_retry_redoes_only_it(only_steps, work):
    calls = {"assessment": 0, "skills": 0}

    def assessment(ctx):
        calls["assessment"] += 1
        fake_assessment(ctx)

    def skills(ctx):
        calls["skills"] += 1
        if calls["skills"] == 1:
            raise DraupWorldError("INVALID_REQUEST", "skills service refused", retryable=False)

    only_steps(
        Step("ai_assessment", "AI_ASSESSMENT", ONE_TRY, assessment),
        Step("skills", "AI_ASSESSMENT", ONE_TRY, skills, optional=True),
    )
    run, role = push_and_work(work)
    assert (run.status, role.state) == (RunStatus.DEGRADED, RoleState.DEGRADED)
    assert role.ai_automation_score == 50.0 and "skills" in role.state_reason
    services.run_retry(run=run)
    work()
    assert Role.objects.get(pk=role.pk).state == RoleState.READY
    assert calls == {"assessment": 1, "skills": 2}


def test_a_crash_inside_a_step_fails_the_run_instead_of_looping(only_steps, work):
    tries = []

    def broken(ctx):
        tries.append(1)
        raise KeyError("company_role_id")

    only_steps(Step("ai_assessment", "AI_ASSESSMENT", RetryPolicy(5, 0, 0), broken))
    run, role = push_and_work(work)
    assert role.state == RoleState.FAILED and len(tries) == 1
    assert run.error["error"] == "INTERNAL_ERROR" and run.error["recoverable"] is False


def test_a_crash_inside_a_call_is_one_failed_attempt_not_a_loop(only_steps, work):
    def broken(ctx):
        ctx.attempt("run_ai_assessment", lambda wire: {}["missing"], keep=lambda value: {})

    only_steps(Step("ai_assessment", "AI_ASSESSMENT", RetryPolicy(5, 0, 0), broken))
    run, role = push_and_work(work)
    assert role.state == RoleState.FAILED and run.error["error"] == "INTERNAL_ERROR"
    assert list(run.attempts.values_list("number", "outcome")) == [(1, "failed")]


def test_a_worker_that_lost_its_lease_writes_nothing(only_steps, work):
    def stolen(ctx):
        Run.objects.filter(pk=ctx.run.pk).update(lease_owner="another-worker")

    only_steps(Step("ai_assessment", "AI_ASSESSMENT", ONE_TRY, stolen))
    run, role = push_and_work(work)
    assert run.lease_owner == "another-worker" and run.status == RunStatus.PROCESSING
    assert RunStep.objects.get(run=run).status != "completed"  # not marked completed by the loser
    assert role.state == RoleState.PROCESSING


def test_a_long_call_keeps_its_lease_so_no_second_worker_takes_the_run(only_steps, work, settings):
    seen = {}

    def slow(ctx):
        time.sleep(settings.PIPELINE_LEASE_SECONDS * 1.5)  # longer than the lease itself
        seen["second claim"] = claim_runs(token="another-runner", limit=1, run_id=ctx.run.pk)
        fake_assessment(ctx)

    only_steps(Step("ai_assessment", "AI_ASSESSMENT", ONE_TRY, slow))
    run, role = push_and_work(work)
    assert seen["second claim"] == []
    assert role.state == RoleState.READY


def test_a_run_is_claimed_by_one_runner_only():
    run = services.role_push(role=ready_role())
    first = claim_runs(token="a:1", limit=10, run_id=run.pk)
    second = claim_runs(token="b:1", limit=10, run_id=run.pk)
    assert first == [run.pk] and second == []
    assert claim_runs(token="c:1", limit=10) == []  # nothing else waits
