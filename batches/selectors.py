"""Batch status from aggregate queries: a batch of 2,500 roles costs what a batch of 10 does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max, Q
from django.utils import timezone

from batches.models import Batch
from onboarding.models import Run, RunStatus

RECENT = timedelta(minutes=10)  # the completion rate behind the estimate of the time left
FAILURES_SHOWN = 200


@dataclass
class BatchStatus:
    batch: Batch
    counts: dict[str, int]
    refused: int
    total: int
    done: int
    percent_done: float
    started_at: datetime
    finished_at: datetime | None
    seconds_left: float | None
    failures: list[Run]

    @property
    def in_flight(self) -> int:
        return self.counts[RunStatus.QUEUED] + self.counts[RunStatus.PROCESSING]


def batch_status(batch: Batch, now: datetime | None = None) -> BatchStatus:
    now = now or timezone.now()
    by_status = {s: Count("id", filter=Q(status=s)) for s in RunStatus.values}
    agg = Run.objects.filter(batch=batch).aggregate(
        **by_status,
        last_finished=Max("finished_at"),
        recent=Count("id", filter=Q(finished_at__gte=now - RECENT)),
    )
    counts = {s: agg[s] for s in RunStatus.values}
    total = sum(counts.values())
    in_flight = counts[RunStatus.QUEUED] + counts[RunStatus.PROCESSING]
    done = total - in_flight
    failures = list(
        Run.objects.filter(batch=batch, status__in=[RunStatus.FAILED, RunStatus.DEGRADED])
        .select_related("role__company")
        .order_by("-finished_at")[:FAILURES_SHOWN]
    )
    return BatchStatus(
        batch=batch,
        counts=counts,
        refused=batch.refusals.count(),
        total=total,
        done=done,
        percent_done=round(100.0 * done / total, 1) if total else 100.0,
        started_at=batch.created_at,
        finished_at=agg["last_finished"] if total and not in_flight else None,
        seconds_left=_seconds_left(batch, now, in_flight, agg["recent"]),
        failures=failures,
    )


def _seconds_left(batch: Batch, now: datetime, in_flight: int, recent: int) -> float | None:
    """From the recent completion rate, or the rate since the batch started; None when unknown."""
    if not in_flight:
        return 0.0
    window = min(RECENT, now - batch.created_at).total_seconds()
    finished = recent if window else 0
    if not finished or window <= 0:
        return None
    return round(in_flight / (finished / window), 1)
