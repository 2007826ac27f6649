"""A real django-q2 cluster (`manage.py qcluster` in its own process) against the live
simulator: the product as it runs, including a worker killed with SIGKILL mid-assessment."""

import os
import signal
import time

import pytest

from onboarding import services
from onboarding.draup_world import CREATE_COMPANY_ROLE, RUN_AI_ASSESSMENT
from onboarding.models import Role, RoleState, RunStep
from onboarding.tasks import pipeline_sweep
from tests.factories import ready_role

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition, timeout=45.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def state_of(role):
    return Role.objects.get(pk=role.pk).state


def test_a_real_cluster_takes_a_push_to_ready(cluster, simulator):
    role = ready_role()
    services.role_push(role=role)
    cluster()
    wait_for(lambda: state_of(role) == RoleState.READY)
    assert simulator.calls(RUN_AI_ASSESSMENT) == 1


def test_a_worker_killed_mid_assessment_is_resumed_and_role_setup_is_not_redone(cluster, simulator, settings):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {RUN_AI_ASSESSMENT: 3.0}}
    role = ready_role()
    run = services.role_push(role=role)
    first = cluster()
    wait_for(lambda: RunStep.objects.filter(run=run, name="ai_assessment", status="running").exists())
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    assert state_of(role) == RoleState.PROCESSING

    time.sleep(2.5)  # the lease (2 s in tests) expires: the run has no live worker
    assert pipeline_sweep()["stuck"] == 1
    cluster()
    wait_for(lambda: state_of(role) == RoleState.READY)
    assert simulator.calls(CREATE_COMPANY_ROLE, key=f"{run.workflow_id}:{CREATE_COMPANY_ROLE}") == 1
    assert RunStep.objects.get(run=run, name="ai_assessment").attempts == 2
