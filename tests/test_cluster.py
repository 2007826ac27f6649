"""A real django-q2 cluster (`manage.py qcluster` in its own process) against the live
simulator: the product as it runs, including a worker killed with SIGKILL mid-assessment."""

import os
import signal
import time

import pytest
from django.db import connection

from onboarding import services
from onboarding.draup_world import CREATE_COMPANY_ROLE, RUN_AI_ASSESSMENT
from onboarding.models import PipelineRunner, Role, RoleState, Run, RunAttempt, RunStep, SimulatorCall
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


def test_a_worker_killed_mid_assessment_is_resumed_within_the_lease_and_nothing_is_redone(
    cluster, simulator, settings
):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {RUN_AI_ASSESSMENT: 3.0}}
    role = ready_role()
    run = services.role_push(role=role)
    first = cluster()
    wait_for(lambda: RunStep.objects.filter(run=run, name="ai_assessment", status="running").exists())
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(10)
    killed_at = time.monotonic()
    assert state_of(role) == RoleState.PROCESSING
    cluster()  # the machine comes back (or another one takes over): no sweep, no push
    wait_for(lambda: RunAttempt.objects.filter(run=run, call=RUN_AI_ASSESSMENT, number=2).exists())
    assert time.monotonic() - killed_at < settings.PIPELINE_LEASE_SECONDS + 5
    wait_for(lambda: state_of(role) == RoleState.READY)
    assert simulator.calls(CREATE_COMPANY_ROLE, key=f"{run.workflow_id}:{CREATE_COMPANY_ROLE}") == 1
    first_try, second_try = RunAttempt.objects.filter(run=run, call=RUN_AI_ASSESSMENT).order_by("id")
    assert (first_try.outcome, second_try.outcome) == ("abandoned", "succeeded")


LONG_LEASE = {"PIPELINE_LEASE_SECONDS": "30", "PIPELINE_HEARTBEAT_SECONDS": "1"}


def test_a_worker_stopped_by_sigterm_hands_its_runs_back_at_once(cluster, simulator, settings):
    """SIGTERM to a busy worker (systemd, an orchestrator): its runs are released at once,
    not after their 30 s lease, and the cluster's new worker goes on with them."""
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {RUN_AI_ASSESSMENT: 3.0}}
    role = ready_role()
    run = services.role_push(role=role)
    cluster(**LONG_LEASE)
    wait_for(lambda: RunAttempt.objects.filter(run=run, call=RUN_AI_ASSESSMENT, outcome="running").exists())
    os.kill(PipelineRunner.objects.get().pid, signal.SIGTERM)
    wait_for(lambda: Run.objects.get(pk=run.pk).lease_owner == "", timeout=3)
    wait_for(lambda: state_of(role) == RoleState.READY, timeout=20)
    assert simulator.calls(CREATE_COMPANY_ROLE) == 1


def test_a_restarted_cluster_takes_over_a_killed_runners_runs_without_waiting_the_lease(
    cluster, simulator, settings
):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {RUN_AI_ASSESSMENT: 2.0}}
    role = ready_role()
    run = services.role_push(role=role)
    first = cluster(**LONG_LEASE)
    wait_for(lambda: RunAttempt.objects.filter(run=run, call=RUN_AI_ASSESSMENT, outcome="running").exists())
    os.killpg(first.pid, signal.SIGKILL)  # Ctrl-C twice, a crash: nothing is handed back
    first.wait(10)
    killed_at = time.monotonic()
    cluster(**LONG_LEASE)
    wait_for(lambda: RunAttempt.objects.filter(run=run, call=RUN_AI_ASSESSMENT, number=2).exists())
    assert time.monotonic() - killed_at < 10  # the 30 s lease was not waited out
    wait_for(lambda: state_of(role) == RoleState.READY)


def test_a_starting_cluster_picks_up_waiting_runs_within_seconds(cluster, simulator):
    """Runs wait and no message will come (they were lost with a broker, or pushed while no
    worker ran): a cluster that starts takes them at once, not at its first schedule check."""
    from django_q.models import OrmQ

    roles = [ready_role() for _ in range(3)]
    for role in roles:
        services.role_push(role=role)
    OrmQ.objects.all().delete()  # the doorbells are lost
    started = time.monotonic()
    cluster()
    wait_for(lambda: all(state_of(role) == RoleState.READY for role in roles))
    assert time.monotonic() - started < 5 + 3  # 5 s to pick up; the process start itself takes a few


def ring_on(redis_url: str):
    """`manage.py reap_stuck` on the Redis broker: what an operator (or the schedule) does."""
    import subprocess
    import sys

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "etter_site.test_settings",
        "DATABASE_URL": database_url(),
        "Q_REDIS_URL": redis_url,
    }
    command = [sys.executable, "manage.py", "reap_stuck"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


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

    import redis

    redis.Redis.from_url("redis://127.0.0.1:6379/5").flushdb()
    role = ready_role()
    services.role_push(role=role)
    cluster(Q_REDIS_URL="redis://127.0.0.1:6379/5")
    swept = ring_on("redis://127.0.0.1:6379/5")  # the cluster's start rang already; the sweep may add one
    assert swept.returncode == 0, swept.stderr
    wait_for(lambda: state_of(role) == RoleState.READY)


@pytest.mark.skipif(not _redis_up(), reason="REDIS TEST SKIPPED: no Redis at 127.0.0.1:6379")
@pytest.mark.skipif(
    connection.vendor == "sqlite", reason="machines share PostgreSQL; SQLite is one machine's database"
)
def test_two_machines_on_redis_hold_twice_the_runs_and_losing_one_loses_nothing(cluster, simulator, settings):
    """Two clusters (two machines) on the Redis broker, each allowed 3 runs in flight: 12 slow
    runs spread over both, and killing one machine mid-batch repeats no completed call."""
    import redis

    redis.Redis.from_url("redis://127.0.0.1:6379/6").flushdb()
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {RUN_AI_ASSESSMENT: 3.0}}
    machine = {"Q_REDIS_URL": "redis://127.0.0.1:6379/6", "PIPELINE_RUNS_PER_RUNNER": "3"}
    first = cluster(**machine)
    cluster(**machine)
    time.sleep(2)  # both machines up
    roles = [ready_role() for _ in range(12)]
    from batches.services import batch_push

    batch_push(role_ids=[r.pk for r in roles])
    ring_on(machine["Q_REDIS_URL"])  # one doorbell: the first runner fills up and asks for help
    peak, clusters = 0, set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (peak < 6 or len(clusters) < 2):
        peak = max(peak, SimulatorCall.objects.filter(endpoint=RUN_AI_ASSESSMENT, status_code=0).count())
        clusters |= set(PipelineRunner.objects.values_list("cluster", flat=True))
        time.sleep(0.1)
    assert peak > 3 and len(clusters) == 2  # more than one machine's worth, on two machines
    os.killpg(first.pid, signal.SIGKILL)
    wait_for(lambda: all(state_of(role) == RoleState.READY for role in roles), timeout=60)
    creates = SimulatorCall.objects.filter(endpoint=CREATE_COMPANY_ROLE, status_code=200, replayed=False)
    assert creates.count() == 12
