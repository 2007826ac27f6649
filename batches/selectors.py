"""Batch status from aggregate queries: a batch of 2,500 roles costs what a batch of 10 does."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from batches.models import Batch, BatchRefusal
from onboarding.models import Run, RunStatus

if TYPE_CHECKING:
    from onboarding.explain import Fix

RECENT = timedelta(minutes=10)  # the completion rate behind the estimate of the time left
FAILURES_SHOWN = 200


@dataclass
class BatchStatus:
    """A batch as one user may see it: only the runs and refusals of their companies."""

    batch: Batch
    runs: QuerySet[Run]
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


def batch_status(batch: Batch, user=None, now: datetime | None = None) -> BatchStatus:
    """The batch as `user` sees it (None: the system, which sees every company)."""
    return status_of(batch, batch.runs_visible_to(user), batch.refusals_visible_to(user), now)


def status_of(
    batch: Batch, runs: QuerySet[Run], refusals: QuerySet[BatchRefusal], now: datetime | None = None
) -> BatchStatus:
    """The batch as the given runs and refusals of it (those someone may see) make it."""
    now = now or timezone.now()
    by_status = {s: Count("id", filter=Q(status=s)) for s in RunStatus.values}
    agg = runs.aggregate(
        **by_status,
        last_finished=Max("finished_at"),
        recent=Count("id", filter=Q(finished_at__gte=now - RECENT)),
    )
    counts = {s: agg[s] for s in RunStatus.values}
    total = sum(counts.values())
    in_flight = counts[RunStatus.QUEUED] + counts[RunStatus.PROCESSING]
    done = total - in_flight
    failures = list(
        runs.filter(status__in=[RunStatus.FAILED, RunStatus.DEGRADED])
        .select_related("role__company")
        .order_by("-finished_at")[:FAILURES_SHOWN]
    )
    return BatchStatus(
        batch=batch,
        runs=runs,
        counts=counts,
        refused=refusals.count(),
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


def finished_per_minute(status: BatchStatus) -> list[tuple[datetime, int]]:
    """Roles of the batch that finished, minute by minute (one query)."""
    from django.db.models.functions import TruncMinute

    rows = (
        status.runs.filter(finished_at__isnull=False)
        .annotate(minute=TruncMinute("finished_at"))
        .values("minute")
        .annotate(n=Count("id"))
        .order_by("minute")
    )
    return [(row["minute"], row["n"]) for row in rows]


@dataclass
class FailureGroup:
    code: str
    count: int
    fix: Fix
    examples: list[Run]


def failure_groups(status: BatchStatus) -> tuple[list[FailureGroup], list[FailureGroup]]:
    """The batch's failures grouped by what went wrong, split into (needs you, engineer)."""
    from django.db.models.fields.json import KT

    from onboarding.explain import ENGINEER, fix_for

    counts = dict(
        status.runs.filter(status__in=[RunStatus.FAILED, RunStatus.DEGRADED])
        .annotate(code=KT("error__error"))
        .values_list("code")
        .annotate(n=Count("id"))
    )
    groups = [
        FailureGroup(
            code or "UNKNOWN",
            n,
            fix_for({"error": code}),
            [r for r in status.failures if (r.error or {}).get("error") == code][:5],
        )
        for code, n in sorted(counts.items(), key=lambda kv: -kv[1])
    ]
    return [g for g in groups if g.fix.who != ENGINEER], [g for g in groups if g.fix.who == ENGINEER]


def retrying_runs(status: BatchStatus, limit: int = 50) -> tuple[int, list[Run]]:
    """Runs waiting for a retry the system will make by itself, soonest first."""
    waiting = status.runs.filter(status=RunStatus.PROCESSING, next_attempt_at__isnull=False)
    return waiting.count(), list(waiting.select_related("role").order_by("next_attempt_at")[:limit])
