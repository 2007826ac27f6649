"""Role transitions become events (and new runs get their SLA record) in the transaction of
the change, in bulk: a push of 2,500 roles adds a constant number of queries, not 2,500."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from batches.models import Batch
from onboarding.bulk import insert_rows
from onboarding.explain import RETRYING, fix_for
from onboarding.models import Role, RoleState, Run

from .models import Event, EventType, SlaConfig, SlaRecord


def record_events(sender, rows, **kwargs) -> None:
    logs = [row for row in rows if isinstance(row.content_object, Role)]
    if not logs:
        return
    runs = _run_fields(logs)
    events = [_event(log, runs.get(log.content_object.last_run_id)) for log in logs]
    if len(logs) == 1:
        Event.objects.bulk_create([Event(**events[0])])  # its run's fields are subqueries (see _run_fields)
    else:
        insert_rows(Event, events)  # plain values: thousands for a big push, by COPY
    queued = [e for e in events if e["to_state"] == RoleState.QUEUED and e["run_id"]]
    if queued:
        _start_sla_records(queued)
    wake_processor()


def _run_fields(logs: list) -> dict[int, dict]:
    """{run id: its trace id and batch}: one query for a bulk transition; for a single one
    (a worker's, once per run) read inside the INSERT itself, so it costs one query, not two."""
    ids = {log.content_object.last_run_id for log in logs} - {None}
    if not ids:
        return {}
    if len(logs) == 1:
        (run_id,) = ids
        run = Run.objects.filter(pk=run_id)
        trace_id = Coalesce(Subquery(run.values("trace_id")[:1]), Value(""))
        batch = Batch.objects.filter(batch_id=Subquery(run.values("batch_key")[:1]))
        return {run_id: {"trace_id": trace_id, "batch_id": Subquery(batch.values("pk")[:1])}}
    batch_pk = Subquery(Batch.objects.filter(batch_id=OuterRef("batch_key")).values("pk")[:1])
    runs = Run.objects.filter(pk__in=ids).annotate(batch_pk=batch_pk)
    return {r["pk"]: {**r, "batch_id": r["batch_pk"]} for r in runs.values("pk", "trace_id", "batch_pk")}


def _event(log, run: dict | None) -> dict:
    """The event of a role's transition, by Event's attnames."""
    role = log.content_object
    return {
        "type": EventType.for_state(log.state),
        "role_id": role.pk,
        "company_id": role.company_id,
        "run_id": role.last_run_id if run else None,
        "batch_id": run["batch_id"] if run else None,
        "from_state": log.source_state or "",
        "to_state": log.state,
        "actor_id": log.by_id,
        "reason": log.description or "",
        "correlation_id": run["trace_id"] if run else "",
    }


def error_class(run: dict | None) -> str:
    """Who has to act: the CSM, an engineer, or nobody yet (the system is retrying)."""
    if run is None:
        return ""
    if run["next_attempt_at"] is not None and run["status"] in ("QUEUED", "PROCESSING"):
        return RETRYING
    if run["error"] and run["status"] in ("FAILED", "DEGRADED"):
        return fix_for(run["error"]).who
    return ""


def sla_target_seconds(company_ids: set[int]) -> dict[int | None, float]:
    """{company id or None (the default): target}; one query."""
    targets: dict[int | None, float] = {None: settings.SLA_DEFAULT_TARGET_MINUTES * 60}
    configs = SlaConfig.objects.filter(active=True).filter(
        company_id__in=company_ids
    ) | SlaConfig.objects.filter(active=True, company__isnull=True)
    for company_id, minutes in configs.values_list("company_id", "target_minutes"):
        targets[company_id] = minutes * 60
    return targets


def _start_sla_records(events: list[dict]) -> None:
    """A run's first push starts its SLA clock; a retry of the same run keeps it running."""
    now = timezone.now()
    targets = sla_target_seconds({e["company_id"] for e in events if e["company_id"] is not None})
    rows = []
    for e in events:
        assert e["run_id"] and e["role_id"] and e["company_id"], (
            "a queued role's event names its run and role"
        )
        target = targets.get(e["company_id"], targets[None])
        rows.append(
            {
                **{key: e[key] for key in ("run_id", "role_id", "company_id", "batch_id")},
                "started_at": now,
                "target_seconds": target,
                "due_at": now + timedelta(seconds=target),
            }
        )
    if len(rows) == 1:  # a worker's: its batch is a subquery (see _run_fields)
        SlaRecord.objects.bulk_create([SlaRecord(**rows[0])], ignore_conflicts=True)
        return
    # The runs that have a record already (retried ones) are left out in one query, and the
    # rest go in bulk (thousands for a big push: by COPY, without a model instance per row).
    # No other transaction starts one of these runs' clocks meanwhile: their roles are locked.
    runs = [row["run_id"] for row in rows]
    started = set(SlaRecord.objects.filter(run_id__in=runs).values_list("run_id", flat=True))
    first: dict[int, dict] = {}
    for row in rows:  # a run's clock starts once
        first.setdefault(row["run_id"], row)
    insert_rows(SlaRecord, [row for run_id, row in first.items() if run_id not in started])


def wake_processor() -> None:
    """After commit, ring the event processor's doorbell: at most one per transaction, and
    at most one per EVENTS_DOORBELL_SECONDS in this process, so that a flood of transitions is
    not a flood of jobs (the processor keeps polling a little longer than that)."""
    if any(getattr(item[1], "__name__", "") == "_ring" for item in connection.run_on_commit):
        return
    transaction.on_commit(_ring)


def _ring() -> None:
    from django_q.tasks import async_task

    every = settings.EVENTS_DOORBELL_SECONDS
    if every < 0:  # no doorbell: the one-minute schedule handles events
        return
    if every == 0 or cache.add("operations:doorbell", 1, timeout=every):
        async_task("operations.jobs.events_process_job", task_name="events-process")
