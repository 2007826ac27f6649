"""django-q2 jobs. A job is only a doorbell: the runs in the database say what to do."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django_q.tasks import async_task

from onboarding.models import PipelineRunner, Run
from onboarding.pipeline import doorbell
from onboarding.pipeline.runner import Runner

logger = logging.getLogger(__name__)


def pipeline_work(run_id: int | None = None, linger: bool = True) -> int:
    """Be a runner while pipeline work exists: take `run_id` first if it is free, then any
    waiting run. Without `linger` it stops as soon as nothing is due (the tests' worker).
    Returns how many runs it took."""
    return Runner(linger=linger).serve(run_id)


def pipeline_sweep() -> dict[str, int]:
    """The safety net, every minute on a django-q2 schedule (and `manage.py reap_stuck`): if
    runs wait and no runner is alive to take them, ring. Runners themselves pick up due
    retries and dead workers' runs within a second; this covers a cluster that lost every
    message."""
    now = timezone.now()
    lease = timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
    stuck = Run.objects.in_flight().filter(~Q(lease_owner=""), lease_expires_at__lt=now).count()
    waiting = Run.objects.claimable(now).count()
    runners = PipelineRunner.objects.filter(heartbeat_at__gte=now - lease).count()
    woken = 0
    if waiting and not runners:
        doorbell.ring()
        woken = 1
    if stuck or woken:
        logger.info("sweep: %s runs lost their worker, %s wait, woke %s", stuck, waiting, woken)
    return {"stuck": stuck, "waiting": waiting, "woken": woken, "runners": runners}


def wake_on_spawn(sender=None, proc_name: str = "", **kwargs) -> None:
    """A worker process started (a cluster starting or a worker recycled): if runs are in
    flight, ring, so that a restarted cluster resumes within seconds, not at the next sweep."""
    try:
        if Run.objects.in_flight().exists():
            doorbell.ring()
        # A sweep run by a worker is how an idle cluster shows it is alive (health): at once,
        # not at the schedule's first check a minute after the start.
        async_task("onboarding.tasks.pipeline_sweep", task_name=f"sweep-at-start-{proc_name}")
    except Exception:  # never keep a worker from starting
        logger.exception("could not check for waiting runs at worker start")
    finally:
        connection.close()
