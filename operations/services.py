"""Writes of the operations app: process events, track SLAs, mark inbox items read.

Every job here is safe under at-least-once delivery: work is claimed with a conditional
UPDATE (a lease), and every effect is unique per event, so running twice does it once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from batches.models import Batch
from onboarding.models import RoleState, Run
from onboarding.models.run import RUN_IN_FLIGHT

from .dispatch import dispatch
from .models import Event, EventType, InboxItem, SlaRecord
from .receivers import error_class, wake_processor

TERMINAL = {RoleState.READY, RoleState.DEGRADED, RoleState.FAILED}


# --- events ------------------------------------------------------------------------------


def events_process(*, chunk: int | None = None) -> int:
    """Handle every event waiting now, oldest first, a chunk at a time. Returns how many."""
    handled = 0
    while claimed := _events_claim(chunk or settings.EVENTS_CHUNK_SIZE):
        token, events = claimed
        _events_handle(token, events)
        handled += len(events)
    return handled


def _events_claim(limit: int) -> tuple[str, list[Event]] | None:
    now = timezone.now()
    token = uuid.uuid4().hex
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    with transaction.atomic():
        # One processor at a time, so that events are handled in order: the oldest waiting
        # event's row lock queues the claimers, and a chunk leased to a live processor stops
        # the others (it takes the next chunk itself; a dead one's lease runs out).
        unprocessed = Event.objects.filter(processed_at__isnull=True).order_by("id")
        list(unprocessed.select_for_update().values_list("id", flat=True)[:1])
        if unprocessed.filter(claimed_until__gte=now).exists():
            return None
        ids = list(unprocessed.filter(free).values_list("id", flat=True)[:limit])
        if not ids:
            return None
        lease = now + timedelta(seconds=settings.EVENTS_LEASE_SECONDS)
        Event.objects.filter(free, pk__in=ids).update(claimed_until=lease, claim_token=token)
    related = ("role", "company", "batch__created_by", "run__created_by", "actor")
    events = list(Event.objects.filter(claim_token=token).select_related(*related).order_by("id"))
    return (token, events) if events else None


def _events_handle(token: str, events: list[Event]) -> None:
    with transaction.atomic():
        _classify(events)
        owed = dispatch(events)
        _sla_follow(events)
        _batches_complete(events)
        Event.objects.filter(claim_token=token, processed_at__isnull=True).update(processed_at=timezone.now())
        if owed:
            transaction.on_commit(_wake_deliveries)


def _classify(events: list[Event]) -> None:
    """Who has to act on a role that failed or degraded: read from its run's error."""
    changed = []
    for event in events:
        ended_badly = event.to_state in (RoleState.FAILED, RoleState.DEGRADED)
        if event.is_role_event and ended_badly and not event.error_class and event.run is not None:
            run = {"status": event.run.status, "error": event.run.error, "next_attempt_at": None}
            event.error_class = error_class(run)
            changed.append(event)
    Event.objects.bulk_update(changed, ["error_class"])


def _wake_deliveries() -> None:
    from django_q.tasks import async_task

    async_task("operations.jobs.deliveries_send_job", task_name="deliveries-send")


def _batches_complete(events: list[Event]) -> None:
    """A batch whose runs have all ended completes, once (a unique constraint sees to it)."""
    ids = {e.batch_id for e in events if e.batch_id and e.is_role_event and e.to_state in TERMINAL}
    if not ids:
        return
    batches = Batch.objects.filter(pk__in=ids)
    busy = Run.objects.filter(batch_key__in=batches.values("batch_id"), status__in=RUN_IN_FLIGHT)
    done = batches.exclude(batch_id__in=busy.values("batch_key")).values_list(
        "pk", "batch_id", "created_by_id"
    )
    completed = [
        Event(
            type=EventType.BATCH_COMPLETED,
            batch_id=pk,
            actor_id=created_by,
            correlation_id=batch_id,
            reason="Every run of the batch has ended",
        )
        for pk, batch_id, created_by in done
    ]
    Event.objects.bulk_create(completed, ignore_conflicts=True)


# --- SLA -------------------------------------------------------------------------------------


def _sla_follow(events: list[Event]) -> None:
    """Record when runs started and ended (from their events), and breaches found at the end."""
    relevant = [e for e in events if e.run_id and e.is_role_event and e.to_state in {*TERMINAL, "PROCESSING"}]
    if not relevant:
        return
    records = SlaRecord.objects.in_bulk([e.run_id for e in relevant], field_name="run_id")
    breached = []
    for event in relevant:
        record = records.get(event.run_id)
        if record is None:
            continue
        if event.to_state == RoleState.PROCESSING:
            if record.processing_at is None:
                record.processing_at = event.created_at
                record.queue_wait_seconds = (event.created_at - record.started_at).total_seconds()
            continue
        record.completed_at, record.outcome = event.created_at, event.to_state
        record.actual_seconds = (event.created_at - record.started_at).total_seconds()
        if record.actual_seconds > record.target_seconds and not record.breached:
            record.breached, record.breached_at = True, event.created_at
            breached.append((record, event))
    fields = ["processing_at", "queue_wait_seconds", "completed_at", "outcome", "actual_seconds", "breached"]
    SlaRecord.objects.bulk_update(records.values(), [*fields, "breached_at"])
    Event.objects.bulk_create(
        [_breach_event(r, e.to_state, e.correlation_id, e.error_class) for r, e in breached],
        ignore_conflicts=True,
    )


def _breach_event(record: SlaRecord, state: str, correlation_id: str, error_class_: str) -> Event:
    minutes = f"{record.target_seconds / 60:g}"
    return Event(
        type=EventType.SLA_BREACHED,
        role_id=record.role_id,
        company_id=record.company_id,
        run_id=record.run_id,
        batch_id=record.batch_id,
        to_state=state,
        reason=f"Not ready within the {minutes}-minute target",
        error_class=error_class_,
        correlation_id=correlation_id,
    )


def sla_check(*, now=None, limit: int = 5000) -> int:
    """Breaches of runs still in flight: their target passed and they are not done. Returns
    how many were found (each gets one `sla.breached` event)."""
    now = now or timezone.now()
    late = SlaRecord.objects.filter(breached=False, due_at__lte=now, run__status__in=RUN_IN_FLIGHT)
    fields = ("pk", "run__trace_id", "role__state", "run__status", "run__next_attempt_at", "run__error")
    rows = {row["pk"]: row for row in late.values(*fields)[:limit]}
    if not rows:
        return 0
    with transaction.atomic():
        records = list(SlaRecord.objects.filter(pk__in=rows, breached=False))
        SlaRecord.objects.filter(pk__in=[r.pk for r in records]).update(breached=True, breached_at=now)
        Event.objects.bulk_create([_in_flight_breach(r, rows[r.pk]) for r in records], ignore_conflicts=True)
        wake_processor()
    return len(records)


def _in_flight_breach(record: SlaRecord, row: dict) -> Event:
    run = {
        "status": row["run__status"],
        "next_attempt_at": row["run__next_attempt_at"],
        "error": row["run__error"],
    }
    return _breach_event(record, row["role__state"], row["run__trace_id"], error_class(run))


# --- the inbox ---------------------------------------------------------------------------------


def inbox_item_mark_read(*, item: InboxItem, user) -> bool:
    """Only the owner marks their item read; marking twice changes nothing."""
    return bool(
        InboxItem.objects.filter(pk=item.pk, user=user, read_at__isnull=True).update(read_at=timezone.now())
    )


def inbox_mark_all_read(*, user) -> int:
    return InboxItem.objects.filter(user=user, read_at__isnull=True).update(read_at=timezone.now())


# --- rules -------------------------------------------------------------------------------------


def rule_send_test(*, rule) -> list:
    """Send a sample now (the admin's test button): one logged attempt per target."""
    from .delivery import delivery_attempt
    from .models import Action, Delivery, Recipients

    sample = {
        "id": 0,
        "type": rule.event_type,
        "test": True,
        "summary": f"A test of the rule “{rule.name}”",
        "created": timezone.now().isoformat(),
    }
    if rule.action == Action.WEBHOOK:
        targets = [rule.webhook_url]
    elif rule.recipients == Recipients.ADDRESSES:
        targets = rule.address_list()
    else:
        targets = []
    attempts = []
    for target in targets:
        delivery = Delivery.objects.create(
            rule=rule,
            channel=rule.action,
            target=target,
            is_test=True,
            subject=f"[test] {rule.name}",
            body="This is a test of an Etter onboarding alert rule. Nothing happened.",
            payload=sample,
            next_attempt_at=timezone.now(),
        )
        attempts.append(delivery_attempt(delivery))
    return attempts
