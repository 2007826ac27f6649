"""A runner's life in one process: how it starts (and hands on a dead runner's runs), how it
is woken, how it hands over when its time is up, and how it lets go on SIGTERM."""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from onboarding import services
from onboarding.draup_world import RUN_AI_ASSESSMENT
from onboarding.models import PipelineRunner, Role, RoleState, Run, RunAttempt
from onboarding.models.run_lifecycle import lease_until
from onboarding.pipeline.runner import Runner
from onboarding.tasks import pipeline_sweep, pipeline_work, wake_on_spawn
from tests.factories import ready_role
from tests.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def doorbells() -> int:
    return OrmQ.objects.count()


def dead_pid() -> int:
    finished = subprocess.Popen(["true"])
    finished.wait()
    return finished.pid


def test_a_worker_that_starts_asks_for_a_sweep_and_rings_when_runs_are_in_flight():
    wake_on_spawn(proc_name="Process-1")
    assert doorbells() == 1  # only the sweep that shows the worker alive
    OrmQ.objects.all().delete()
    services.role_push(role=ready_role())
    OrmQ.objects.all().delete()  # the push's own doorbell was lost
    wake_on_spawn(proc_name="Process-1")
    assert doorbells() == 2  # a runner's doorbell, and the sweep


def test_the_sweep_rings_only_when_runs_wait_and_no_runner_is_alive():
    services.role_push(role=ready_role())
    OrmQ.objects.all().delete()
    PipelineRunner.objects.create(
        name="r", cluster="c", host="h", pid=1, capacity=1, heartbeat_at=timezone.now()
    )
    assert pipeline_sweep()["woken"] == 0 and doorbells() == 0  # a live runner will take it
    PipelineRunner.objects.all().delete()
    assert pipeline_sweep() == {"stuck": 0, "waiting": 1, "woken": 1, "runners": 0}
    assert doorbells() == 1


def test_a_starting_runner_hands_on_the_runs_of_a_dead_runner_of_this_machine(simulator):
    role = ready_role()
    run = services.role_push(role=role)
    gone = f"{socket.gethostname()[:40]}:{dead_pid()}:abcdef"
    PipelineRunner.objects.create(
        name=gone, cluster="old", host=socket.gethostname()[:40], pid=int(gone.split(":")[1]),
        capacity=1, heartbeat_at=timezone.now(),
    )  # fmt: skip
    Run.objects.filter(pk=run.pk).update(lease_owner=f"{gone}:1", lease_expires_at=lease_until())
    assert pipeline_work(linger=False) == 1  # its lease had a minute to go: taken at once
    assert Role.objects.get(pk=role.pk).state == RoleState.READY
    assert not PipelineRunner.objects.filter(name=gone).exists()


def test_a_runner_whose_time_is_up_takes_nothing_more_and_rings_its_successor(settings):
    settings.PIPELINE_DRAIN_SECONDS = 0
    services.role_push(role=ready_role())
    OrmQ.objects.all().delete()
    assert pipeline_work() == 0
    assert doorbells() == 1  # a fresh job carries on


def test_on_sigterm_a_runner_hands_its_runs_back_and_then_ends_as_it_would_have(simulator, settings):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {RUN_AI_ASSESSMENT: 5.0}}
    run = services.role_push(role=ready_role())
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:

        def stop_it():
            wait_until(lambda: RunAttempt.objects.filter(call=RUN_AI_ASSESSMENT, outcome="running").exists())
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=stop_it).start()
        started = time.monotonic()
        Runner().serve()  # the main thread, as in a django-q2 worker
        assert time.monotonic() - started < 5  # not the length of the call
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert received == [signal.SIGTERM]  # passed on to what handled SIGTERM before
    assert Run.objects.get(pk=run.pk).lease_owner == ""
    assert not PipelineRunner.objects.exists()
