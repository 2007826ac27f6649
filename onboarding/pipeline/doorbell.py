"""The doorbell: a django-q2 message that starts a runner in whichever worker process, on
whichever machine, takes it. It carries no work; the runs in the database say what to do, so
a spare doorbell is harmless: its runner finds its cluster full, or nothing to do, and ends."""

from __future__ import annotations

import logging

from django.conf import settings
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
