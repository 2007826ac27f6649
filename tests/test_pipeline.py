"""The pipeline end to end over real HTTP: the live server serves the simulator, the worker's
job runs in this process against it, and the database is PostgreSQL when reachable."""

import time
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from onboarding import services
from onboarding.draup_world import CREATE_COMPANY_ROLE, LINK_JOB_DESCRIPTION, RUN_AI_ASSESSMENT
from onboarding.errors import InvalidTransition
from onboarding.models import Role, RoleDocument, RoleState, Run, RunStatus, SimulatorCall
from onboarding.tasks import pipeline_sweep
from tests.factories import RoleFactory, ready_role
from tests.helpers import run_in_threads, start_thread, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
ALL = (CREATE_COMPANY_ROLE, LINK_JOB_DESCRIPTION, RUN_AI_ASSESSMENT)


def reload(role):
    return Role.objects.select_related("last_run").get(pk=role.pk)


def test_it_takes_a_pushed_role_to_ready_calling_each_endpoint_once(simulator, work):
    role = ready_role(name="Claims Adjuster")
    run = services.role_push(role=role)
    assert reload(role).state == RoleState.QUEUED
    work()
    role = reload(role)
    assert role.state == RoleState.READY
    assert 0 <= role.ai_automation_score <= 100
    assert len(role.assessment["tasks"]) == 5 and role.assessment["impact"]
    assert role.dashboard_url.startswith(simulator.url)
    assert [simulator.calls(e) for e in ALL] == [1, 1, 1]
    for endpoint in ALL:
        call = SimulatorCall.objects.get(endpoint=endpoint)
        assert call.idempotency_key == f"{run.workflow_id}:{endpoint}"
        assert call.trace_id == run.trace_id
    run.refresh_from_db()
    assert run.status == RunStatus.READY and run.finished_at and not run.lease_owner
    steps = list(run.steps.values("name", "status", "attempts"))
    assert steps[:2] == [  # role setup is two calls: one attempt each
        {"name": "role_setup", "status": "completed", "attempts": 2},
        {"name": "ai_assessment", "status": "completed", "attempts": 1},
    ]
    assert {(s["status"], s["attempts"]) for s in steps[2:]} == {("completed", 1)}  # the enhancements
    attempts = list(run.attempts.values_list("step", "call", "number", "outcome", "http_status"))
    assert attempts[:3] == [
        ("role_setup", CREATE_COMPANY_ROLE, 1, "succeeded", 200),
        ("role_setup", LINK_JOB_DESCRIPTION, 1, "succeeded", 200),
        ("ai_assessment", RUN_AI_ASSESSMENT, 1, "succeeded", 200),
    ]
    assert len(attempts) == 3 + 7


def test_the_same_role_gets_the_same_score(simulator, work):
    first = ready_role(name="Underwriter")
    services.role_push(role=first)
    work()
    score = reload(first).ai_automation_score
    Role.objects.filter(pk=first.pk).delete()
    again = ready_role(name="Underwriter", company=first.company)
    services.role_push(role=again)
    work()
    assert reload(again).ai_automation_score == score


def test_two_503s_then_success_retries_only_that_step(simulator, work):
    simulator.fault(RUN_AI_ASSESSMENT, "503", times=2)
    role = ready_role()
    run = services.role_push(role=role)
    work()
    assert reload(role).state == RoleState.READY
    assert simulator.calls(RUN_AI_ASSESSMENT) == 3
    assert simulator.calls(CREATE_COMPANY_ROLE) == 1 and simulator.calls(LINK_JOB_DESCRIPTION) == 1
    assert run.steps.get(name="ai_assessment").attempts == 3


def test_a_429_waits_at_least_retry_after(simulator, work):
    simulator.fault(RUN_AI_ASSESSMENT, "429", retry_after=1)
    role = ready_role()
    services.role_push(role=role)
    work()
    assert reload(role).state == RoleState.READY
    first, second = SimulatorCall.objects.filter(endpoint=RUN_AI_ASSESSMENT).order_by("id")
    assert first.status_code == 429 and second.status_code == 200
    assert (second.created_at - first.created_at).total_seconds() >= 1.0


@pytest.mark.parametrize(
    ("kind", "code", "words"),
    [
        ("400", "INVALID_REQUEST", "refused the request"),
        ("401", "UNAUTHORIZED", "rejected the credentials"),
        ("broken", "BAD_RESPONSE", "company_role_id is missing"),
    ],
)
def test_errors_retrying_cannot_fix_fail_after_one_call(simulator, work, kind, code, words):
    simulator.fault(CREATE_COMPANY_ROLE, kind)
    role = ready_role()
    run = services.role_push(role=role)
    work()
    role, run = reload(role), Run.objects.get(pk=run.pk)
    assert role.state == RoleState.FAILED
    assert simulator.calls(CREATE_COMPANY_ROLE) == 1
    assert simulator.calls(RUN_AI_ASSESSMENT) == 0
    assert run.error["error"] == code and run.error["step"] == "role_setup"
    assert words in run.error["message"] and run.error["recoverable"] is False
    assert words in role.state_reason


def test_a_read_timeout_on_the_assessment_is_retried(simulator, work, settings):
    settings.DRAUP_WORLD_READ_TIMEOUTS = {**settings.DRAUP_WORLD_READ_TIMEOUTS, RUN_AI_ASSESSMENT: 0.5}
    simulator.fault(RUN_AI_ASSESSMENT, "hang", hang_seconds=1.5)
    role = ready_role()
    run = services.role_push(role=role)
    work()
    assert reload(role).state == RoleState.READY
    assert run.steps.get(name="ai_assessment").status == "completed"
    tries = list(run.attempts.filter(call=RUN_AI_ASSESSMENT).values_list("outcome", "replayed"))
    assert tries[0] == ("retrying", False) and tries[-1] == ("succeeded", True)
    # The retries waited for the hung call's answer: the assessment itself ran once.
    done = SimulatorCall.objects.filter(endpoint=RUN_AI_ASSESSMENT, status_code=200, replayed=False)
    assert done.count() == 1


def test_attempts_run_out_per_policy_and_the_role_fails(simulator, work):
    simulator.fault(CREATE_COMPANY_ROLE, "503", times=10)
    role = ready_role()
    run = services.role_push(role=role)
    work()
    assert reload(role).state == RoleState.FAILED
    assert simulator.calls(CREATE_COMPANY_ROLE) == 3  # the contract: 3 attempts
    run.refresh_from_db()
    assert run.error["error"] == "SERVER_ERROR" and run.error["recoverable"] is True


def test_a_long_retry_wait_frees_the_worker_and_the_sweep_brings_it_back(simulator, work):
    simulator.fault(RUN_AI_ASSESSMENT, "429", retry_after=30)
    role = ready_role()
    run = services.role_push(role=role)
    started = time.monotonic()
    work()
    assert time.monotonic() - started < 10  # it did not sit out the 30 s
    run.refresh_from_db()
    assert run.status == RunStatus.PROCESSING and not run.lease_owner
    assert run.next_attempt_at > timezone.now() + timedelta(seconds=25)
    assert run.steps.get(name="ai_assessment").status == "retrying"
    assert pipeline_sweep()["waiting"] == 0  # not due yet
    Run.objects.filter(pk=run.pk).update(next_attempt_at=timezone.now())
    assert pipeline_sweep()["waiting"] == 1
    work()
    assert reload(role).state == RoleState.READY
    assert simulator.calls(CREATE_COMPANY_ROLE) == 1


def test_two_job_messages_for_one_run_do_the_work_once(simulator, settings):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {RUN_AI_ASSESSMENT: 0.5}}
    role = ready_role()
    run = services.role_push(role=role)
    from onboarding.tasks import pipeline_work

    run_in_threads(pipeline_work, 2, run.pk)
    assert reload(role).state == RoleState.READY
    assert [simulator.calls(e) for e in ALL] == [1, 1, 1]


def test_a_failed_run_retried_resumes_at_the_failed_step(simulator, work):
    simulator.fault(RUN_AI_ASSESSMENT, "400")
    role = ready_role()
    run = services.role_push(role=role)
    work()
    assert reload(role).state == RoleState.FAILED
    again = services.run_retry(run=Run.objects.get(pk=run.pk))
    assert again.workflow_id == run.workflow_id
    work()
    assert reload(role).state == RoleState.READY
    assert simulator.calls(CREATE_COMPANY_ROLE) == 1 and simulator.calls(LINK_JOB_DESCRIPTION) == 1
    assert simulator.calls(RUN_AI_ASSESSMENT) == 2


def test_a_ready_role_cannot_be_retried(simulator, work):
    role = ready_role()
    run = services.role_push(role=role)
    work()
    with pytest.raises(InvalidTransition, match="only failed or degraded runs"):
        services.run_retry(run=Run.objects.get(pk=run.pk))
    assert reload(role).state == RoleState.READY


def test_cancel_while_queued_ends_failed_and_nothing_is_called(simulator, work):
    role = ready_role()
    run = services.role_push(role=role)
    services.run_cancel(run=run)
    work()
    role, run = reload(role), Run.objects.get(pk=run.pk)
    assert role.state == RoleState.FAILED and role.state_reason == "cancelled"
    assert run.status == RunStatus.FAILED and run.error["error"] == "CANCELLED"
    assert simulator.calls() == 0


def test_cancel_mid_call_ends_the_run_at_once_and_discards_the_answer(simulator, work, settings):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {LINK_JOB_DESCRIPTION: 3.0}}
    role = ready_role()
    run = services.role_push(role=role)
    worker = start_thread(work)
    wait_until(lambda: run.attempts.filter(call=LINK_JOB_DESCRIPTION, outcome="running").exists())
    asked = time.monotonic()
    services.run_cancel(run=run)
    role, ended = reload(role), Run.objects.get(pk=run.pk)
    assert time.monotonic() - asked < 2  # not at the end of the 3 s call
    assert role.state == RoleState.FAILED and role.state_reason == "cancelled"
    assert ended.status == RunStatus.FAILED and ended.error["error"] == "CANCELLED"
    worker.join()
    link = run.attempts.filter(call=LINK_JOB_DESCRIPTION)
    wait_until(lambda: link.get().outcome == "discarded")  # when the abandoned call answers
    assert "cancelled" in link.get().error["message"]
    assert simulator.calls(RUN_AI_ASSESSMENT) == 0  # no later step started
    assert Run.objects.get(pk=run.pk).status == RunStatus.FAILED  # the late answer changed nothing
    assert run.steps.get(name="role_setup").status == "running"


def test_an_uploaded_jd_file_is_sent_as_a_signed_link_the_service_downloads(simulator, work):
    role = RoleFactory()
    RoleDocument.objects.create(role=role, file=ContentFile(b"%PDF-1.4 a job description", name="jd.pdf"))
    services.role_push(role=role)
    work()
    assert reload(role).state == RoleState.READY
    link = SimulatorCall.objects.get(endpoint=LINK_JOB_DESCRIPTION)
    assert link.request["jd_uri"].startswith(simulator.url + "/documents/")
    assert link.request["jd_content"] is None and link.request["metadata"]["format"] == "pdf"


def test_a_jd_removed_after_the_push_fails_with_what_to_do(simulator, work):
    role = ready_role()
    services.role_push(role=role)
    role.documents.all().delete()
    work()
    role = reload(role)
    assert role.state == RoleState.FAILED
    assert "upload one and retry" in role.state_reason


def test_a_failed_role_whose_jd_changed_gets_a_new_run_that_links_the_new_jd(simulator, work):
    simulator.fault(RUN_AI_ASSESSMENT, "400")
    role = ready_role()
    first = services.role_push(role=role)
    work()
    RoleDocument.objects.create(role=role, content="# A better JD")
    second = services.role_push(role=reload(role))
    assert second.pk != first.pk
    work()
    assert reload(role).state == RoleState.READY
    link = SimulatorCall.objects.filter(endpoint=LINK_JOB_DESCRIPTION).last()
    assert link.request["jd_content"] == "# A better JD"
