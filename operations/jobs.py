"""django-q2 jobs of the operations app. A job is a doorbell: the database says what to do,
so a lost or duplicated message does not matter (the schedules are the safety net)."""

from __future__ import annotations

import logging
import time

from django.conf import settings

from . import delivery, services

logger = logging.getLogger(__name__)

# A processor keeps looking for new events this long after the last one: a doorbell rung
# during that time (and suppressed by the per-process throttle) is answered anyway.
IDLE_SECONDS = 2.0
# A job hands over after this long, so one flood does not hold a worker for ever.
DRAIN_SECONDS = 60.0


def events_process_job() -> int:
    deadline = time.monotonic() + DRAIN_SECONDS
    idle_until = time.monotonic() + IDLE_SECONDS
    handled = 0
    while time.monotonic() < deadline:
        n = services.events_process()
        handled += n
        if n:
            idle_until = time.monotonic() + IDLE_SECONDS
        elif time.monotonic() >= idle_until:
            break
        else:
            time.sleep(0.2)
    breaches = services.sla_check()
    if handled or breaches:
        logger.info("events: handled %s, SLA breaches found %s", handled, breaches)
    return handled


def sla_check_job() -> int:
    """On a schedule: breaches of runs still in flight, and events a lost doorbell left."""
    found = services.sla_check()
    services.events_process()
    return found


def deliveries_send_job() -> int:
    """Send what is due; wait in the worker only for retries due within a few seconds, and
    leave later ones to the schedule."""
    deadline = time.monotonic() + DRAIN_SECONDS
    tried = 0
    while time.monotonic() < deadline:
        tried += delivery.deliveries_send()
        wait = delivery.seconds_to_next_due()
        if wait is None or wait > settings.WEBHOOK_INLINE_WAIT_SECONDS:
            break
        time.sleep(min(wait, max(0.0, deadline - time.monotonic())) + 0.05)
    return tried
