"""django-q2 jobs. A job is only a doorbell: the runs in the database say what to do."""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django_q.brokers import get_broker
from django_q.tasks import async_task

from onboarding.pipeline import engine

logger = logging.getLogger(__name__)


def pipeline_work(run_id: int | None = None) -> int:
    """Work on `run_id` if it is free, then on any other waiting run, for a bounded time.
    Returns how many runs it advanced."""
    deadline = time.monotonic() + settings.PIPELINE_DRAIN_SECONDS
    advanced = 0
    target = run_id
    while time.monotonic() < deadline:
        claimed = engine.claim(target)
        if claimed is None and target is None:
            return advanced
        target = None
        if claimed is not None:
            engine.advance(*claimed)
            advanced += 1
    # Time is up but runs may still wait: hand over to a fresh job rather than hold a worker.
    async_task("onboarding.tasks.pipeline_work")
    return advanced


def pipeline_sweep() -> dict[str, int]:
    """Wake workers for runs no live worker holds: a dead worker's, a retry now due, a run
    whose queue message was lost. Runs every minute on a django-q2 schedule."""
    stuck = engine.expired_leases().count()
    waiting = engine.runs_needing_a_worker().count()
    wanted = min(waiting, settings.Q_WORKERS)
    # Messages already queued will reach these runs; only make up the difference.
    queued_messages = get_broker().queue_size() or 0
    sent = max(0, wanted - queued_messages)
    for _ in range(sent):
        async_task("onboarding.tasks.pipeline_work")
    if stuck or sent:
        logger.info("sweep: %s runs lost their worker, %s wait for one, woke %s", stuck, waiting, sent)
    return {"stuck": stuck, "waiting": waiting, "woken": sent}
