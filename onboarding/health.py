"""Health of what the pipeline needs: the database, the workers, draup-world."""

from __future__ import annotations

from datetime import timedelta

import requests
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import timezone


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
    """Alive when a pipeline runner's own heartbeat is recent (it refreshes it every few
    seconds while it runs), not when some schedule moved: a schedule says nothing of workers."""
    from onboarding.models import PipelineRunner

    alive_after = timezone.now() - timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
    try:
        alive = PipelineRunner.objects.filter(heartbeat_at__gte=alive_after).exists()
    except Exception:
        return "down"
    return "healthy" if alive else "down"


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
