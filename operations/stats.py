"""Pipeline statistics for a time window, in a fixed number of aggregate queries.

Percentiles: PostgreSQL computes them (`percentile_cont ... WITHIN GROUP`); on SQLite (the
try-it-out database) the values are fetched in one query and ranked in Python."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Min, Q, QuerySet, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone

from onboarding.models import Role, Run, RunStatus, RunStep

from .models import Event, SlaRecord

QUANTILES = (0.5, 0.95, 0.99)


class Percentiles(Aggregate):
    function = "percentile_cont"
    template = "%(function)s(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = ArrayField(FloatField())


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime


def _nearest_rank(values: list[float], q: float) -> float:
    # Linear interpolation, like PostgreSQL's percentile_cont.
    values = sorted(values)
    pos = q * (len(values) - 1)
    low = int(pos)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (pos - low)


def percentiles(qs: QuerySet, field: str, group: str | None = None, scale: float = 1.0) -> dict:
    """{group value (or None): {"p50", "p95", "p99", "count"}} of `field` / scale, one query."""
    qs = qs.filter(**{f"{field}__isnull": False})
    if connection.vendor == "postgresql":
        base = qs.values(group) if group else qs.values()
        rows = (
            base.annotate(p=Percentiles(field), n=Count("pk"))
            if group
            else [qs.aggregate(p=Percentiles(field), n=Count("pk"))]
        )
        return {row.get(group) if group else None: _shape(row["p"], row["n"], scale) for row in rows}
    grouped: dict = {}
    for key, value in qs.values_list(group or "pk", field):
        grouped.setdefault(key if group else None, []).append(value)
    return {k: _shape([_nearest_rank(v, q) for q in QUANTILES], len(v), scale) for k, v in grouped.items()}


def _shape(points: list | None, n: int, scale: float) -> dict:
    if not n or not points:
        return {"p50": None, "p95": None, "p99": None, "count": 0}
    p50, p95, p99 = (round(p / scale, 3) for p in points)
    return {"p50": p50, "p95": p95, "p99": p99, "count": n}


def pipeline_stats(window: Window) -> dict:
    runs = Run.objects.filter(queued_at__gte=window.since, queued_at__lt=window.until)
    by_status = dict(runs.values_list("status").annotate(n=Count("pk")))
    finished = sum(by_status.get(s, 0) for s in (RunStatus.READY, RunStatus.DEGRADED, RunStatus.FAILED))
    # A run was retried when one of its calls needed a second attempt (role setup makes two
    # calls, so a step's attempt count says nothing by itself).
    retried = runs.filter(attempts__number__gt=1).values("pk").distinct().count()
    steps = RunStep.objects.filter(run__in=runs, status="completed")
    sla = SlaRecord.objects.filter(started_at__gte=window.since, started_at__lt=window.until)
    return {
        "window": {"since": window.since, "until": window.until},
        "roles_by_state": dict(Role.objects.values_list("state").annotate(n=Count("pk"))),
        "runs_by_status": {s: by_status.get(s, 0) for s in RunStatus.values},
        "success_rate": _rate(by_status.get(RunStatus.READY, 0), finished),
        "retry_rate": _rate(retried, sum(by_status.values())),
        "durations_seconds": {
            "steps": percentiles(steps, "duration_ms", group="name", scale=1000),
            "push_to_ready": percentiles(sla.filter(outcome="READY"), "actual_seconds").get(
                None, _shape(None, 0, 1)
            ),
        },
        "queue_wait_seconds": percentiles(sla, "queue_wait_seconds").get(None, _shape(None, 0, 1)),
        "sla": _sla(sla),
        "events": _events(),
        "tokens": _tokens(steps),
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _sla(records: QuerySet) -> dict:
    agg = records.aggregate(
        n_met=Count("pk", filter=Q(completed_at__isnull=False, breached=False)),
        n_breached=Count("pk", filter=Q(breached=True)),
        n_open=Count("pk", filter=Q(completed_at__isnull=True, breached=False)),
    )
    return {"met": agg["n_met"], "breached": agg["n_breached"], "in_flight_within_target": agg["n_open"]}


def _events() -> dict:
    agg = Event.objects.filter(processed_at__isnull=True).aggregate(
        waiting=Count("pk"), oldest=Min("created_at")
    )
    lag = (timezone.now() - agg["oldest"]).total_seconds() if agg["oldest"] else 0.0
    return {"waiting": agg["waiting"], "lag_seconds": round(lag, 3)}


def _tokens(steps: QuerySet) -> dict:
    """Tokens the LLM steps reported (the contract's `usage`, kept in the step's output)."""
    used = steps.aggregate(
        tokens_in=Sum(Cast(KT("output__usage__input_tokens"), FloatField())),
        tokens_out=Sum(Cast(KT("output__usage__output_tokens"), FloatField())),
        reporting=Count("pk", filter=Q(output__has_key="usage")),
    )
    return {
        "input": int(used["tokens_in"] or 0),
        "output": int(used["tokens_out"] or 0),
        "steps_reporting": used["reporting"],
    }
