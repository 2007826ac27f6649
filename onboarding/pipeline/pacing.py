"""Paces assessments across every runner so a big batch keeps draup-world's LLM busy without
a storm of 429s: each start takes the next free slot, 60/rate seconds after the previous one.
A 429 that comes anyway slows the pace; successes bring it back."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from onboarding.models import Throttle

NAME = "run_ai_assessment"
SLOWEST = 0.25  # never below a quarter of the configured rate


def enabled() -> bool:
    return settings.PIPELINE_ASSESSMENTS_PER_MINUTE > 0


def next_slot() -> datetime:
    """Reserve the next free start time; the caller waits for it (or comes back then)."""
    with transaction.atomic():
        throttle, _ = Throttle.objects.select_for_update().get_or_create(name=NAME)
        now = timezone.now()
        start = max(now, throttle.next_free_at or now)
        interval = 60.0 / (settings.PIPELINE_ASSESSMENTS_PER_MINUTE * throttle.rate_factor)
        throttle.next_free_at = start + timedelta(seconds=interval)
        throttle.save(update_fields=["next_free_at"])
    return start


def feedback(*, rate_limited: bool) -> None:
    """Slow down by a quarter on a 429; speed back up a little after each success."""
    if not rate_limited and Throttle.objects.filter(name=NAME, rate_factor__gte=1.0).exists():
        return  # the common case: full speed already, no lock taken
    with transaction.atomic():
        throttle, _ = Throttle.objects.select_for_update().get_or_create(name=NAME)
        if rate_limited:
            throttle.rate_factor = max(SLOWEST, throttle.rate_factor * 0.75)
        elif throttle.rate_factor < 1.0:
            throttle.rate_factor = min(1.0, throttle.rate_factor + 0.05)
        else:
            return
        throttle.save(update_fields=["rate_factor"])
