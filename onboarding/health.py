"""Health of what the pipeline needs: the database, the workers, draup-world."""

from __future__ import annotations

from datetime import timedelta

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone

SWEEP = "onboarding.tasks.pipeline_sweep"
# A worker runs the sweep every minute (the schedule made by migration onboarding 0002): none in
# three minutes means no worker is taking jobs.
SWEEP_OVERDUE = timedelta(minutes=3)


def components_health() -> dict[str, str]:
    return {"database": _database(), "workers": _workers(), "draup_world": _draup_world()}


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "healthy"
    except Exception:
        return "down"


def _workers() -> str:
    """From the workers' own records, not from a schedule's clock: alive when a runner's
    heartbeat is recent. An idle cluster has no runner; then a sweep that a worker ran in the
    last few minutes says it is alive. Work waiting with no live runner is "down"."""
    from django_q.models import Success

    from onboarding.models import PipelineRunner, Run

    now = timezone.now()
    try:
        if PipelineRunner.objects.filter(
            heartbeat_at__gte=now - timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
        ):
            return "healthy"
        if Run.objects.claimable(now - timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)).exists():
            return "down"  # runs have waited longer than a lease and no runner is alive
        swept = Success.objects.filter(func=SWEEP, stopped__gte=now - SWEEP_OVERDUE).exists()
    except Exception:
        return "down"
    return "healthy" if swept else "down"


def _draup_world() -> str:
    if settings.DRAUP_WORLD_SIMULATOR and settings.DRAUP_WORLD_BASE_URL == f"{settings.SITE_URL}/simulator":
        return "simulator"
    # The endpoint is open to anyone: reuse the last answer for a few seconds, so a flood of
    # health checks does not become a flood of calls to draup-world.
    key = f"health:draup_world:{settings.DRAUP_WORLD_BASE_URL}"
    answer = cache.get(key)
    if answer is None:
        answer = _probe_draup_world()
        cache.set(key, answer, timeout=settings.HEALTH_PROBE_CACHE_SECONDS)
    return answer


def _probe_draup_world() -> str:
    try:
        # Any HTTP answer proves the service is reachable; the contract has no health endpoint.
        requests.get(settings.DRAUP_WORLD_BASE_URL, timeout=(2, 3))
        return "healthy"
    except requests.RequestException:
        return "down"
