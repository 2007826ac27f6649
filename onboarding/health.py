"""Health of what the pipeline needs: the database, the workers, draup-world."""

from __future__ import annotations

from datetime import timedelta

import requests
from django.conf import settings
from django.db import connection
from django.utils import timezone

# The sweep runs every minute (the schedule made by migration onboarding 0002); a running
# cluster's guard moves it forward, so three missed runs mean no cluster is running.
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
    from django_q.models import Schedule

    try:
        next_run = Schedule.objects.filter(name="pipeline-sweep").values_list("next_run", flat=True).first()
    except Exception:
        return "down"
    if next_run is None:
        return "down"
    return "healthy" if timezone.now() - next_run < SWEEP_OVERDUE else "down"


def _draup_world() -> str:
    if settings.DRAUP_WORLD_SIMULATOR and settings.DRAUP_WORLD_BASE_URL == f"{settings.SITE_URL}/simulator":
        return "simulator"
    try:
        # Any HTTP answer proves the service is reachable; the contract has no health endpoint.
        requests.get(settings.DRAUP_WORLD_BASE_URL, timeout=(2, 3))
        return "healthy"
    except requests.RequestException:
        return "down"
