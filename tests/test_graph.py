"""Issue 11: the steps as a graph. Enhancements run side by side after the assessment; an
optional failure leaves the role DEGRADED with the assessment kept and the steps that need it
skipped; a retry runs only what failed or was skipped; skip_enhancement_workflows and "Run
enhancements" split the work in two without repeating the assessment. Counted in the
simulator's call log, over real HTTP."""

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

from onboarding import contract, services
from onboarding.draup_world import DraupWorldError, _checked_enhancement
from onboarding.errors import AppError, InvalidTransition
from onboarding.models import ProcessingStep, Role, RoleState, Run, RunStatus, RunStep
from onboarding.pipeline.policies import AI_ASSESSMENT_POLICY, ROLE_SETUP_POLICY
from onboarding.pipeline.steps import BY_NAME, STEP_NAMES, Step, critical_steps, in_dependency_order
from tests.factories import ready_role
from tests.helpers import start_thread, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
CHANGELIST = "/admin/onboarding/role/"
CRITICAL_CALLS = [contract.CREATE_COMPANY_ROLE, contract.LINK_JOB_DESCRIPTION, contract.RUN_AI_ASSESSMENT]
PARALLEL = [contract.TOP_TASKS, contract.SKILLS_MINER, contract.TASK_FEASIBILITY]
SKILLS_CHAIN = [contract.SKILLS_ARCHITECTURE, contract.SKILLS_CATALOG, contract.RESKILLING]


def reload(role):
    return Role.objects.select_related("last_run").get(pk=role.pk)


def statuses(run) -> dict[str, str]:
    return dict(run.steps.values_list("name", "status"))


def calls(simulator, endpoints) -> list[int]:
    return [simulator.calls(e) for e in endpoints]


def test_the_graph_holds_the_critical_path_and_the_seven_enhancements_with_their_policies():
    assert critical_steps() == ["role_setup", "ai_assessment"]
    assert set(STEP_NAMES) == {"role_setup", "ai_assessment", *contract.ENHANCEMENTS}
    for name in contract.ENHANCEMENTS:
        step = BY_NAME[name]
        assert step.optional and step.substate == ProcessingStep.SKILLS
        llm = name in contract.LLM_BACKED
        assert step.paced is llm
        assert step.policy == (AI_ASSESSMENT_POLICY if llm else ROLE_SETUP_POLICY)
    assert BY_NAME["reskilling"].needs == ("skills_catalog",)


def test_a_cycle_or_an_unknown_parent_refuses_to_start_naming_the_steps():
    def step(name, *needs):
        return Step(name, "", ROLE_SETUP_POLICY, lambda ctx: None, needs=needs)

    with pytest.raises(ImproperlyConfigured, match="cycle: a, b"):
        in_dependency_order([step("root"), step("a", "root", "b"), step("b", "a")])
    with pytest.raises(ImproperlyConfigured, match="a needs nowhere"):
        in_dependency_order([step("root"), step("a", "nowhere")])
    ordered = in_dependency_order([step("late", "root"), step("root")])
    assert [s.name for s in ordered] == ["root", "late"]


def test_top_tasks_skills_and_feasibility_run_at_the_same_time(simulator, work, settings):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": dict.fromkeys(PARALLEL, 1.5)}
    role = ready_role()
    run = services.role_push(role=role)
    work()
    role = reload(role)
    assert role.state == RoleState.READY
    assert set(statuses(run).values()) == {"completed"}
    assert calls(simulator, CRITICAL_CALLS + contract.ENHANCEMENTS) == [1] * 10
    attempts = list(run.attempts.filter(step__in=PARALLEL).values_list("started_at", "finished_at"))
    assert len(attempts) == 3
    # Each started before any of them finished: they overlapped in time.
    assert max(start for start, _ in attempts) < min(end for _, end in attempts)
    steps = RunStep.objects.filter(run=run, name__in=PARALLEL).values_list("started_at", "finished_at")
    assert max(s for s, _ in steps) < min(f for _, f in steps)
    # What each enhancement got: the company role and what its parents returned.
    standardize = simulator_request(contract.STANDARDIZE_TASKS)
    assert standardize["company_role_id"] == run.steps.get(name="role_setup").output["company_role_id"]
    assert standardize["top_tasks"] == run.steps.get(name="top_tasks").output["top_tasks"]


def simulator_request(endpoint):
    from onboarding.models import SimulatorCall

    return SimulatorCall.objects.get(endpoint=endpoint, status_code=200).request


def test_an_enhancement_that_fails_skips_what_needs_it_and_the_role_ends_degraded(simulator, work):
    simulator.fault(contract.SKILLS_MINER, "400")
    role = ready_role()
    run = services.role_push(role=role)
    work()
    role, run = reload(role), Run.objects.get(pk=run.pk)
    assert role.state == RoleState.DEGRADED and run.status == RunStatus.DEGRADED
    assert role.assessment["tasks"] and role.ai_automation_score is not None  # kept, visible
    steps = statuses(run)
    assert steps["skills_miner"] == "failed"
    assert [steps[n] for n in SKILLS_CHAIN] == ["skipped"] * 3
    assert [steps[n] for n in ("top_tasks", "standardize_tasks", "task_feasibility")] == ["completed"] * 3
    skipped = run.steps.get(name="skills_architecture").error
    assert skipped["because"] == "skills_miner" and "needs skills, which failed" in skipped["message"]
    assert run.steps.get(name="reskilling").error["message"].endswith("which was skipped.")
    assert run.error["error"] == "OPTIONAL_STEPS_FAILED" and run.error["failed"] == ["skills_miner"]
    assert "Skills (draup-world refused the request" in run.error["message"]
    assert "Reskilling pathways (not run: it needs skills catalog)" in run.error["message"]
    assert calls(simulator, SKILLS_CHAIN) == [0, 0, 0]


def test_retrying_a_degraded_role_runs_only_the_failed_and_skipped_steps(simulator, work):
    simulator.fault(contract.SKILLS_MINER, "400")
    role = ready_role()
    run = services.role_push(role=role)
    work()
    assert reload(role).state == RoleState.DEGRADED
    before = calls(simulator, CRITICAL_CALLS + contract.ENHANCEMENTS)
    services.role_retry(role=reload(role))
    work()
    role = reload(role)
    assert role.state == RoleState.READY and role.last_run_id == run.pk
    assert set(statuses(run).values()) == {"completed"}
    endpoints = CRITICAL_CALLS + contract.ENHANCEMENTS
    after = calls(simulator, endpoints)
    again = {e: a - b for e, a, b in zip(endpoints, after, before, strict=True)}
    assert again == {
        **dict.fromkeys(CRITICAL_CALLS, 0),
        **dict.fromkeys(["top_tasks", "standardize_tasks", "task_feasibility"], 0),
        **dict.fromkeys(["skills_miner", *SKILLS_CHAIN], 1),
    }


def test_a_broken_answer_fails_the_step_without_retry_naming_the_field(simulator, work):
    simulator.fault(contract.TASK_FEASIBILITY, "broken")
    role = ready_role()
    run = services.role_push(role=role)
    work()
    assert reload(role).state == RoleState.DEGRADED
    assert simulator.calls(contract.TASK_FEASIBILITY) == 1
    error = run.steps.get(name="task_feasibility").error
    assert error["error"] == "BAD_RESPONSE" and "feasible_tasks is missing" in error["message"]


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        (contract.TASK_FEASIBILITY, {"feasible_tasks": 3}, "infeasible_tasks"),
        (contract.TOP_TASKS, {"top_tasks": [{"name": "x", "rank": 1}]}, "top_tasks"),
        (contract.SKILLS_CATALOG, {"catalog_entries": "12"}, "catalog_entries"),
        (contract.SKILLS_MINER, {"skills": [], "usage": {"input_tokens": 5}}, "usage.output_tokens"),
    ],
)
def test_each_answer_shape_is_checked(endpoint, body, field):
    with pytest.raises(DraupWorldError) as caught:
        _checked_enhancement(endpoint, body)
    assert caught.value.code == "BAD_RESPONSE" and not caught.value.retryable
    assert f"{field} is missing" in caught.value.message


def test_skip_enhancement_workflows_runs_the_critical_path_and_ends_ready(simulator, work):
    role = ready_role()
    run = services.role_push(role=role, options={"skip_enhancement_workflows": True})
    assert list(run.steps.values_list("name", flat=True)) == ["role_setup", "ai_assessment"]
    work()
    assert reload(role).state == RoleState.READY
    assert calls(simulator, CRITICAL_CALLS) == [1, 1, 1]
    assert calls(simulator, contract.ENHANCEMENTS) == [0] * 7


def test_run_enhancements_later_does_not_repeat_the_assessment(simulator, work):
    role = ready_role()
    run = services.role_push(role=role, options={"skip_enhancement_workflows": True})
    work()
    again = services.role_run_enhancements(role=reload(role))
    assert again.pk == run.pk and reload(role).state == RoleState.QUEUED
    work()
    role = reload(role)
    assert role.state == RoleState.READY and role.assessment["tasks"]
    assert calls(simulator, CRITICAL_CALLS) == [1, 1, 1]
    assert calls(simulator, contract.ENHANCEMENTS) == [1] * 7
    assert list(run.steps.values_list("name", flat=True)) == STEP_NAMES
    with pytest.raises(AppError, match="has run its enhancement workflows already"):
        services.role_run_enhancements(role=role)


def test_run_enhancements_refuses_a_role_that_is_not_ready_and_writes_nothing(simulator, work):
    role = ready_role()
    services.role_push(role=role, options={"skip_enhancement_workflows": True})
    steps = RunStep.objects.count()
    with pytest.raises(InvalidTransition, match="only a READY role"):
        services.role_run_enhancements(role=reload(role))
    assert RunStep.objects.count() == steps and reload(role).state == RoleState.QUEUED


def test_a_run_made_before_the_enhancements_existed_ends_ready_without_them(simulator, work):
    role = ready_role()
    run = services.role_push(role=role)
    run.steps.exclude(name__in=critical_steps()).delete()  # as a run pushed before issue 11
    work()
    assert reload(role).state == RoleState.READY
    assert calls(simulator, contract.ENHANCEMENTS) == [0] * 7


def test_cancel_stops_every_running_branch(simulator, work, settings):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": dict.fromkeys(PARALLEL, 4.0)}
    role = ready_role()
    run = services.role_push(role=role)
    worker = start_thread(work)
    branches = run.attempts.filter(step__in=PARALLEL, outcome="running")
    wait_until(lambda: branches.count() == 3)
    services.run_cancel(run=run)
    worker.join()
    wait_until(lambda: run.attempts.filter(step__in=PARALLEL, outcome="discarded").count() == 3)
    role, run = reload(role), Run.objects.get(pk=run.pk)
    assert role.state == RoleState.FAILED and run.error["error"] == "CANCELLED"
    steps = statuses(run)
    assert [steps[n] for n in PARALLEL] == ["running"] * 3
    assert calls(simulator, ["standardize_tasks", "skills_architecture"]) == [0, 0]


# --- the faces: status page, admin actions, CSV import ----------------------------------------


def test_the_status_page_says_which_sections_are_missing_and_why(simulator, work, admin_client):
    simulator.fault(contract.SKILLS_MINER, "400")
    role = ready_role()
    services.role_push(role=role)
    work()
    page = admin_client.get(reverse("status-role", args=[role.pk])).content.decode()
    assert "Missing sections" in page
    assert "<strong>Skills</strong>: failed: draup-world refused the request" in page
    assert "<strong>Reskilling pathways</strong>: not run, because skills catalog did not complete" in page
    assert "AI automation score" in page  # the assessment stays visible
    assert "Run enhancements" not in page  # every enhancement is part of this run already


def test_assessment_only_from_the_admin_then_run_enhancements_from_the_status_page(
    simulator, work, admin_client
):
    role = ready_role()
    response = admin_client.post(
        CHANGELIST, {"action": "push_assessment_only", "_selected_action": [role.pk]}, follow=True
    )
    assert "Pushed (assessment only) 1 roles" in response.content.decode()
    work()
    assert reload(role).state == RoleState.READY
    assert calls(simulator, contract.ENHANCEMENTS) == [0] * 7
    page = admin_client.get(reverse("status-role", args=[role.pk])).content.decode()
    assert "Run enhancements" in page
    admin_client.post(reverse("status-role-action", args=[role.pk, "enhance"]))
    work()
    assert reload(role).state == RoleState.READY
    assert calls(simulator, contract.ENHANCEMENTS) == [1] * 7
    assert simulator.calls(contract.RUN_AI_ASSESSMENT) == 1
    response = admin_client.post(
        CHANGELIST, {"action": "run_enhancements", "_selected_action": [role.pk]}, follow=True
    )
    assert "has run its enhancement workflows already" in response.content.decode()


def test_a_csv_batch_can_skip_the_enhancements(simulator, work):
    from batches.csv_import import import_roles
    from tests.factories import CompanyFactory

    CompanyFactory(name="Acme")
    data = b"company,role_name,draup_role,occupation,job_family,jd\n"
    data += b"Acme,Analyst,Data Analyst,,,Analyses data all day.\n"
    report = import_roles(
        csv_bytes=data, dry_run=False, push=True, options={"skip_enhancement_workflows": True}
    )
    run = Run.objects.get(batch_key=report.batch.batch_id)
    assert list(run.steps.values_list("name", flat=True)) == critical_steps()


def test_a_batch_retry_of_failed_roles_mends_a_degraded_one_calling_only_what_failed(simulator, work):
    from batches.services import batch_push, batch_retry_failed

    roles = [ready_role() for _ in range(3)]
    simulator.fault(contract.TOP_TASKS, "400")
    batch = batch_push(role_ids=[r.pk for r in roles])
    work()
    states = sorted(reload(r).state for r in roles)
    assert states == [RoleState.DEGRADED, RoleState.READY, RoleState.READY]
    before = calls(simulator, CRITICAL_CALLS + contract.ENHANCEMENTS)
    assert batch_retry_failed(batch=batch) == (1, 0)
    work()
    assert {reload(r).state for r in roles} == {RoleState.READY}
    after = calls(simulator, CRITICAL_CALLS + contract.ENHANCEMENTS)
    again = {e: a - b for e, a, b in zip(CRITICAL_CALLS + contract.ENHANCEMENTS, after, before, strict=True)}
    assert {e for e, n in again.items() if n} == {"top_tasks", "standardize_tasks"}


# --- token usage (issue 11 point 5) -----------------------------------------------------------


def test_token_usage_is_kept_per_step_and_summed_per_run_role_batch_and_company(
    simulator, work, api, liberty, django_assert_max_num_queries
):
    from batches.services import batch_push
    from onboarding.selectors import batch_token_usage, company_token_usage, role_token_usage, token_usage

    roles = [ready_role(company=liberty) for _ in range(2)]
    batch = batch_push(role_ids=[r.pk for r in roles])
    work()
    llm_steps = ["ai_assessment", *PARALLEL]  # the steps whose call is LLM-backed
    llm = RunStep.objects.filter(name__in=llm_steps)
    assert llm.count() == 8 and not llm.filter(input_tokens=0).exists()
    assert not RunStep.objects.exclude(name__in=llm_steps).exclude(input_tokens=0).exists()
    one = reload(roles[0]).last_run
    expected = token_usage(RunStep.objects.filter(run=one))
    assert expected["input_tokens"] > 800 * 4 and expected["output_tokens"] > 0
    both = token_usage(RunStep.objects.all())
    with django_assert_max_num_queries(3):
        assert role_token_usage(roles[0]) == expected
        assert batch_token_usage(batch.batch_id) == both
        assert company_token_usage(liberty) == both
    body = api.get(f"/api/v1/pipeline/status/{one.workflow_id}").json()
    assert body["usage"] == expected
    steps = {s["name"]: s for s in body["progress"]["steps"]}
    assert steps["ai_assessment"]["input_tokens"] > 0 and steps["role_setup"]["input_tokens"] == 0


def test_the_role_batch_and_company_pages_show_tokens(simulator, work, admin_client):
    from batches.services import batch_push

    role = ready_role()
    batch = batch_push(role_ids=[role.pk])
    work()
    total = sum(RunStep.objects.values_list("input_tokens", flat=True)) + sum(
        RunStep.objects.values_list("output_tokens", flat=True)
    )
    assert total > 0
    pages = [
        reverse("status-role", args=[role.pk]),
        reverse("status-batch", args=[batch.pk]),
        reverse("status-company", args=[role.company_id]),
    ]
    for url in pages:
        page = admin_client.get(url).content.decode()
        assert f'<span class="tokens-total">{total}</span>' in page, url


# --- pictures (issue 11 point 6) ---------------------------------------------------------------


def test_the_role_page_draws_the_run_as_a_timeline_and_the_batch_page_progress_per_step(
    simulator, work, admin_client, settings
):
    from batches.services import batch_push

    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": dict.fromkeys(PARALLEL, 0.3)}
    simulator.fault(contract.SKILLS_MINER, "503")  # retried: a red tick, then success
    simulator.fault(contract.TASK_FEASIBILITY, "400")  # failed for good: a red bar
    roles = [ready_role(), ready_role()]
    batch = batch_push(role_ids=[r.pk for r in roles])
    work()
    role = Role.objects.get(pk__in=[r.pk for r in roles], state=RoleState.DEGRADED)  # the one that failed
    page = admin_client.get(reverse("status-role", args=[role.pk])).content.decode()
    assert page.count('<g class="lane') == len(STEP_NAMES)
    assert 'class="bar bar-failed"' in page and 'fill="#dc2626"' in page
    assert 'class="tick tick-failed"' in page
    batch_page = admin_client.get(reverse("status-batch", args=[batch.pk])).content.decode()
    assert "Progress per step" in batch_page
    assert batch_page.count('class="seg seg-completed"') >= len(STEP_NAMES) - 1
    assert 'class="seg seg-failed"' in batch_page


def test_the_timeline_puts_parallel_steps_side_by_side():
    from datetime import datetime, timedelta
    from types import SimpleNamespace

    from onboarding.timeline import run_timeline

    t0 = datetime(2026, 1, 1, 12, 0, 0)

    def step(name, start, end, status="completed"):
        return SimpleNamespace(
            name=name,
            status=status,
            started_at=t0 + timedelta(seconds=start),
            finished_at=t0 + timedelta(seconds=end),
            get_status_display=lambda: status.capitalize(),
        )

    steps = [step("ai_assessment", 0, 10), step("top_tasks", 10, 20), step("skills_miner", 10, 30)]
    timeline = run_timeline(steps, [], now=t0 + timedelta(seconds=40))
    assessment, top, skills = timeline["bars"]
    assert top.x == skills.x > assessment.x  # started together, after the assessment
    assert abs(skills.width - 2 * top.width) < 0.5 and top.y != skills.y  # one lane each
