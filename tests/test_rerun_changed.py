"""Issue 11 point 4 (reference 002, 7.3): re-pushing a role whose JD or mapping changed keeps
its draup-world company role: the new JD is linked, the assessment and the enhancements run
again, create-company-role is not called again. `from_scratch` creates it again, and says so.
Counted in the simulator's call log, over real HTTP."""

import pytest

from onboarding import contract, services
from onboarding.models import Role, RoleState, Run, SimulatorCall
from tests.factories import JobDescriptionFactory, ready_role

pytestmark = pytest.mark.django_db(transaction=True)
BASE = "/api/v1/pipeline/"


def reload(role):
    return Role.objects.select_related("last_run").get(pk=role.pk)


def ready_then_stale(work, **kwargs):
    role = ready_role(**kwargs)
    first = services.role_push(role=role)
    work()
    assert reload(role).state == RoleState.READY
    JobDescriptionFactory(role=role, content="# A better job description\n\nIt says more.\n")
    assert services.role_inputs_saved(role=reload(role), reason="The job description changed")
    assert reload(role).state == RoleState.STALE
    return reload(role), first


def test_a_stale_role_keeps_its_company_role_and_links_the_new_jd(simulator, work):
    role, first = ready_then_stale(work)
    run = services.role_push(role=role)
    assert run.pk != first.pk and run.kept_company_role
    assert "keeps draup-world company role" in services.how_it_runs(run)
    work()
    role = reload(role)
    assert role.state == RoleState.READY
    assert simulator.calls(contract.CREATE_COMPANY_ROLE) == 1  # not again
    assert simulator.calls(contract.LINK_JOB_DESCRIPTION) == 2
    assert simulator.calls(contract.RUN_AI_ASSESSMENT) == 2
    assert [simulator.calls(e) for e in contract.ENHANCEMENTS] == [2] * 7
    setup = Run.objects.get(pk=run.pk).steps.get(name="role_setup")
    assert setup.output["company_role_id"] == first.steps.get(name="role_setup").output["company_role_id"]
    assert setup.output["company_role_from"] == first.workflow_id
    linked = SimulatorCall.objects.filter(endpoint=contract.LINK_JOB_DESCRIPTION).order_by("id").last()
    assert "A better job description" in linked.request["jd_content"]
    assert list(run.attempts.values_list("call", flat=True))[:2] == [
        contract.LINK_JOB_DESCRIPTION,
        contract.RUN_AI_ASSESSMENT,
    ]


def test_from_scratch_creates_the_company_role_again_and_says_so(simulator, work):
    role, _ = ready_then_stale(work)
    run = services.role_push(role=role, options={"from_scratch": True})
    assert not run.kept_company_role and "from scratch" in services.how_it_runs(run)
    work()
    assert reload(role).state == RoleState.READY
    assert simulator.calls(contract.CREATE_COMPANY_ROLE) == 2


def test_a_renamed_role_gets_a_new_company_role(simulator, work):
    role, _ = ready_then_stale(work)
    Role.objects.filter(pk=role.pk).update(name="Senior " + role.name)
    run = services.role_push(role=reload(role))
    assert not run.kept_company_role
    work()
    assert simulator.calls(contract.CREATE_COMPANY_ROLE) == 2


def test_the_api_says_which_happened(simulator, work, api, liberty):
    role, _ = ready_then_stale(work, company=liberty, name="Underwriter")
    body = {"company_id": "Liberty Mutual", "role_name": "Underwriter"}
    response = api.post(BASE + "push", body, format="json")
    assert response.status_code == 200, response.content
    assert "keeps draup-world company role" in response.json()["message"]
    work()
    assert reload(role).state == RoleState.READY
    response = api.post(BASE + "push", {**body, "options": {"from_scratch": True}}, format="json")
    assert response.status_code == 200, response.content
    assert "from scratch" in response.json()["message"]
