"""What an event says, to a person (subject, body, link) and to a machine (webhook payload)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.db.models import Count
from django.urls import reverse

from batches.models import Batch, BatchRefusal
from onboarding.explain import ENGINEER, NEEDS_YOU, fix_for
from onboarding.models import RoleState, Run, RunStatus

from .models import Event, EventType


@dataclass
class BatchCounts:
    ready: int = 0
    degraded: int = 0
    needs_you: int = 0
    engineer: int = 0
    companies: set[str] = field(default_factory=set)

    def summary(self) -> str:
        parts = [f"{self.ready} ready", f"{self.needs_you} need you"]
        if self.degraded:
            parts.append(f"{self.degraded} degraded")
        if self.engineer:
            parts.append(f"{self.engineer} need an engineer")
        return ", ".join(parts)


def batch_counts(batch_ids: set[int]) -> dict[int, BatchCounts]:
    """Ready/degraded/needs you/engineer per batch, in four queries whatever the size."""
    counts: dict[int, BatchCounts] = defaultdict(BatchCounts)
    if not batch_ids:
        return counts
    pks = dict(Batch.objects.filter(pk__in=batch_ids).values_list("batch_id", "pk"))
    runs = Run.objects.filter(batch_key__in=pks)
    for row in runs.values("batch_key", "status", "role__company__name").annotate(n=Count("id")):
        c = counts[pks[row["batch_key"]]]
        c.companies.add(row["role__company__name"])
        if row["status"] == RunStatus.READY:
            c.ready += row["n"]
        elif row["status"] == RunStatus.DEGRADED:
            c.degraded += row["n"]
    for batch_key, error in runs.filter(status=RunStatus.FAILED).values_list("batch_key", "error"):
        if fix_for(error).who == ENGINEER:
            counts[pks[batch_key]].engineer += 1
        else:
            counts[pks[batch_key]].needs_you += 1
    refused = BatchRefusal.objects.filter(batch_id__in=batch_ids).values("batch_id").annotate(n=Count("id"))
    for refusal in refused:
        counts[refusal["batch_id"]].needs_you += refusal["n"]
    return counts


def link(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    path: str


def message_for(event: Event, counts: dict[int, BatchCounts]) -> Message:
    if event.type == EventType.BATCH_COMPLETED:
        assert event.batch is not None, "a batch event names its batch"
        return _batch_message(event.batch, counts[event.batch.pk])
    role, company = event.role, event.company
    assert role is not None and company is not None, "a role's event names its role and company"
    path = reverse("status-role", args=[role.pk])
    if event.type == EventType.SLA_BREACHED:
        subject = f"SLA breached: {role.name} ({company.name}) is not ready in time"
        lines = [f"{role.name} was pushed and is still {event.to_state.lower()}; the target has passed."]
    else:
        label = RoleState(event.to_state).label
        subject = f"{company.name}: {role.name} is {label.lower()}"
        lines = [event.reason or label]
        if event.error_class == NEEDS_YOU:
            lines.append("This needs you: " + fix_for(event.run.error if event.run else None).action)
    lines += ["", f"Open: {link(path)}", f"Run: {event.run.workflow_id if event.run else '-'}"]
    return Message(subject, "\n".join(lines), path)


def _batch_message(batch: Batch, counts: BatchCounts) -> Message:
    who = ", ".join(sorted(counts.companies)) or str(batch)
    path = reverse("status-batch", args=[batch.pk])
    subject = f"{who} batch: {counts.summary()}"
    body = "\n".join(
        [
            f"{batch} ({batch.batch_id}) has finished: {counts.summary()}.",
            "",
            f"The batch: {link(path)}",
            "Retry the failed roles from the batch page once their cause is fixed.",
        ]
    )
    return Message(subject, body, path)


def payload_for(event: Event, message: Message) -> dict:
    return {
        "id": event.pk,
        "type": event.type,
        "created": event.created_at.isoformat(),
        "company": event.company.name if event.company else None,
        "role": {"id": event.role_id, "name": event.role.name} if event.role else None,
        "workflow_id": event.run.workflow_id if event.run else None,
        "batch_id": event.batch.batch_id if event.batch else None,
        "from": event.from_state or None,
        "to": event.to_state or None,
        "actor": event.actor.get_username() if event.actor else None,
        "reason": event.reason,
        "error_class": event.error_class or None,
        "correlation_id": event.correlation_id,
        "summary": message.subject,
        "url": link(message.path) if message.path else None,
    }
