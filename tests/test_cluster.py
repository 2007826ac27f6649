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
from tests.helpers import ROOT, database_url

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


def _redis_up() -> bool:
    import redis

    try:
        return redis.Redis.from_url("redis://127.0.0.1:6379/5", socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="REDIS TEST SKIPPED: no Redis at 127.0.0.1:6379")
def test_on_the_redis_broker_a_lost_message_is_made_good_by_the_sweep(cluster, simulator):
    """Q_REDIS_URL switches the broker. The push's own message went to another broker (as if
    Redis had lost it); `reap_stuck` on the Redis side wakes a worker and the run finishes."""
    import subprocess
    import sys

    import redis

    redis.Redis.from_url("redis://127.0.0.1:6379/5").flushdb()
    role = ready_role()
    services.role_push(role=role)
    cluster(Q_REDIS_URL="redis://127.0.0.1:6379/5")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "etter_site.test_settings",
        "DATABASE_URL": database_url(),
        "Q_REDIS_URL": "redis://127.0.0.1:6379/5",
    }
    swept = subprocess.run(
        [sys.executable, "manage.py", "reap_stuck"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "woke 1 workers" in swept.stdout, swept.stderr
    wait_for(lambda: state_of(role) == RoleState.READY)
