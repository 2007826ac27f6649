"""Pushing: validation first, one run per push, bulk and constant in queries, jobs after commit."""

import pytest
from django.core.files.base import ContentFile
from django_fsm_log.models import StateLog

from onboarding import services
from onboarding.errors import AlreadyInFlight, AppError, InvalidTransition, ValidationFailed
from onboarding.models import Role, RoleDocument, RoleState, Run, RunStep
from onboarding.pipeline.steps import step_names
from tests.factories import JobDescriptionFactory, RoleFactory, UserFactory, force_state, ready_role

pytestmark = pytest.mark.django_db


def test_a_push_creates_a_run_with_a_stable_id_and_its_steps():
    role = ready_role()
    run = services.role_push(role=role)
    assert run.workflow_id.startswith("role-onboard-") and len(run.workflow_id) == 45
    assert list(run.steps.values_list("name", flat=True)) == step_names()  # the whole graph
    role.refresh_from_db()
    assert role.state == RoleState.QUEUED and role.last_run == run


def test_a_role_without_jd_goes_to_validation_error_saying_what_to_fix():
    role = RoleFactory()
    with pytest.raises(ValidationFailed, match="Add a job description"):
        services.role_push(role=role)
    role.refresh_from_db()
    assert role.state == RoleState.VALIDATION_ERROR and "Add a job description" in role.state_reason
    assert not Run.objects.exists()


def test_a_role_without_mapping_is_refused():
    role = ready_role(draup_role_id="", draup_role_name="")
    with pytest.raises(ValidationFailed, match="Map the role to a Draup role"):
        services.role_push(role=role)


@pytest.mark.parametrize(
    ("name", "content"), [("jd.pdf", b"not a pdf at all"), ("jd.docx", b""), ("jd.docx", b"plain text")]
)
def test_a_jd_file_that_cannot_be_read_is_refused(name, content):
    role = RoleFactory()
    RoleDocument.objects.create(role=role, file=ContentFile(content, name=name))
    with pytest.raises(ValidationFailed, match="upload it again"):
        services.role_push(role=role)
    assert Role.objects.get(pk=role.pk).state == RoleState.VALIDATION_ERROR


def test_a_jd_file_missing_from_storage_is_refused():
    role = RoleFactory()
    doc = RoleDocument.objects.create(role=role, file=ContentFile(b"%PDF-1.4", name="jd.pdf"))
    doc.file.storage.delete(doc.file.name)
    with pytest.raises(ValidationFailed, match="missing from storage"):
        services.role_push(role=role)


def test_a_push_of_a_role_in_flight_names_the_existing_run():
    role = ready_role()
    run = services.role_push(role=role)
    with pytest.raises(AlreadyInFlight) as refused:
        services.role_push(role=role)
    assert refused.value.extra["workflow_id"] == run.workflow_id
    assert refused.value.as_dict()["error"] == "CONFLICT"
    assert Run.objects.count() == 1


def test_a_ready_role_is_not_pushed_again():
    role = force_state(ready_role(), RoleState.READY)
    with pytest.raises(InvalidTransition, match="Mark it stale first"):
        services.role_push(role=role)


def test_a_stale_role_gets_a_new_run():
    role = ready_role()
    first = services.role_push(role=role)
    Run.objects.filter(pk=first.pk).update(status="READY")
    force_state(role, RoleState.STALE)
    second = services.role_push(role=role)
    assert second.pk != first.pk


def test_a_fixed_role_goes_back_to_draft_then_queued_and_both_are_logged():
    user = UserFactory(can_push=True)
    role = RoleFactory()
    with pytest.raises(ValidationFailed):
        services.role_push(role=role, user=user)
    JobDescriptionFactory(role=role)
    services.role_push(role=role, user=user)
    transitions = list(StateLog.objects.for_(role).order_by("id").values_list("transition", "by"))
    assert transitions == [("reject", user.pk), ("reopen", user.pk), ("enqueue", user.pk)]


def test_a_user_without_the_push_permission_is_refused():
    role = ready_role()
    with pytest.raises(AppError, match="not allowed to push"):
        services.role_push(role=role, user=UserFactory())
    assert Role.objects.get(pk=role.pk).state == RoleState.DRAFT


def test_a_bulk_push_costs_the_same_queries_for_30_or_300_roles(count_queries):
    def push(n):
        ids = [ready_role().pk for _ in range(n)] + [RoleFactory().pk]  # one refused, too
        return count_queries(lambda: services.roles_push(role_ids=ids))

    push(1)  # a process's first push also reads what it then keeps (content types)
    assert push(30) == push(300)
    assert RunStep.objects.count() == len(step_names()) * 331
    assert StateLog.objects.filter(transition="enqueue").count() == 331


def test_jobs_are_enqueued_only_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    woken = []
    monkeypatch.setattr(services, "pipeline_wake", woken.append)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = services.role_push(role=ready_role())
        assert woken == []
    for callback in callbacks:
        callback()
    assert woken == [[run.pk]]


def test_the_doorbell_is_one_job_for_one_run_and_one_per_runner_for_many(monkeypatch, settings):
    from onboarding.pipeline import doorbell

    sent = []
    monkeypatch.setattr(doorbell, "async_task", lambda *args, **kw: sent.append(args))
    services.pipeline_wake([7])
    assert sent == [("onboarding.tasks.pipeline_work", 7)]
    sent.clear()
    services.pipeline_wake(list(range(2500)))
    assert len(sent) == settings.PIPELINE_RUNNERS_PER_CLUSTER


def test_a_failed_push_is_retried_on_the_same_run_but_not_twice_at_once():
    role = ready_role()
    run = services.role_push(role=role)
    Run.objects.filter(pk=run.pk).update(status="FAILED")
    force_state(role, RoleState.FAILED)
    again = services.run_retry(run=Run.objects.get(pk=run.pk))
    assert again.pk == run.pk and again.status == "QUEUED"
    with pytest.raises(InvalidTransition):
        services.run_retry(run=Run.objects.get(pk=run.pk))


def test_cancelling_a_run_that_ended_is_refused():
    role = ready_role()
    run = services.role_push(role=role)
    services.run_cancel(run=run)
    with pytest.raises(InvalidTransition, match="nothing to cancel"):
        services.run_cancel(run=run)
