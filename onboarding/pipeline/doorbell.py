"""The doorbell: a django-q2 message that starts a runner in whichever worker process, on
whichever machine, takes it. It carries no work; the runs in the database say what to do."""

from __future__ import annotations

import logging

from django.conf import settings
from django_q.brokers import get_broker
from django_q.tasks import async_task

logger = logging.getLogger(__name__)
TASK = "onboarding.tasks.pipeline_work"


def ring(count: int = 1, *, run_id: int | None = None) -> None:
    for _ in range(count):
        if run_id is not None:
            async_task(TASK, run_id, task_name=f"run-{run_id}")
        else:
            async_task(TASK)


def ring_for(run_ids: list[int]) -> None:
    """After a push: one targeted message for one run; for many, one per runner a cluster may
    start (each runner fills up and rings once more while work is left, which reaches the
    other machines' idle workers)."""
    if len(run_ids) == 1:
        ring(run_id=run_ids[0])
    elif run_ids:
        ring(min(len(run_ids), settings.PIPELINE_RUNNERS_PER_CLUSTER))


def ring_unless_queued() -> bool:
    """Ring once, unless a doorbell already waits in the queue (it will do the same)."""
    try:
        waiting = get_broker().queue_size() or 0
    except Exception:  # a broker that cannot count: ring anyway, a spare doorbell is harmless
        waiting = 0
    if waiting:
        return False
    ring()
    return True
