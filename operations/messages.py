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


@dataclass(frozen=True)
class Scope:
    """Whom a message is written for: the companies they see (None: every company) and who
    they are (the pusher of a batch sees it whole: its name, its refusals of unknown roles)."""

    companies: frozenset[int] | None = None
    user_id: int | None = None

    def sees(self, company_id: int | None) -> bool:
        return self.companies is None or company_id in self.companies

    def sees_whole(self, batch: Batch) -> bool:
        return self.companies is None or (self.user_id is not None and self.user_id == batch.created_by_id)

    def within(self, other: Scope) -> Scope:
        """What both see: a CSM's rule tells its readers only of the CSM's companies."""
        if other.companies is None:
            return self
        mine = other.companies if self.companies is None else self.companies & other.companies
        return Scope(mine, self.user_id)


EVERYONE, NOBODY = Scope(), Scope(frozenset())


@dataclass
class BatchCounts:
    ready: int = 0
    degraded: int = 0
    needs_you: int = 0
    engineer: int = 0
    companies: set[str] = field(default_factory=set)
    items: int = 0  # runs and refusals counted

    def summary(self) -> str:
        parts = [f"{self.ready} ready", f"{self.needs_you} need you"]
        if self.degraded:
            parts.append(f"{self.degraded} degraded")
        if self.engineer:
            parts.append(f"{self.engineer} need an engineer")
        return ", ".join(parts)

    def add(self, other: BatchCounts) -> None:
        self.ready += other.ready
        self.degraded += other.degraded
        self.needs_you += other.needs_you
        self.engineer += other.engineer
        self.companies |= other.companies
        self.items += other.items


@dataclass
class BatchTally:
    """A batch's counts per company (None: refusals that name no known role), so that each
    reader is told only of the companies they see."""

    parts: dict[int | None, BatchCounts] = field(default_factory=lambda: defaultdict(BatchCounts))

    def company_ids(self) -> set[int]:
        return {pk for pk in self.parts if pk is not None}

    def seen_in(self, scope: Scope, batch: Batch) -> BatchCounts | None:
        """The counts `scope` may read; None when none of the batch is theirs."""
        seen = BatchCounts()
        for company_id, part in self.parts.items():
            if scope.sees_whole(batch) if company_id is None else scope.sees(company_id):
                seen.add(part)
        return seen if seen.items else None


def batch_counts(batch_ids: set[int]) -> dict[int, BatchTally]:
    """Ready/degraded/needs you/engineer per batch and company, in four queries whatever the size."""
    tallies: dict[int, BatchTally] = defaultdict(BatchTally)
    if not batch_ids:
        return tallies
    pks = dict(Batch.objects.filter(pk__in=batch_ids).values_list("batch_id", "pk"))
    runs = Run.objects.filter(batch_key__in=pks)
    by_status = runs.values("batch_key", "status", "role__company_id", "role__company__name")
    for row in by_status.annotate(n=Count("id")):
        c = tallies[pks[row["batch_key"]]].parts[row["role__company_id"]]
        c.companies.add(row["role__company__name"])
        c.items += row["n"]
        if row["status"] == RunStatus.READY:
            c.ready += row["n"]
        elif row["status"] == RunStatus.DEGRADED:
            c.degraded += row["n"]
    failed = runs.filter(status=RunStatus.FAILED).values_list("batch_key", "role__company_id", "error")
    for batch_key, company_id, error in failed:
        c = tallies[pks[batch_key]].parts[company_id]
        if fix_for(error).who == ENGINEER:
            c.engineer += 1
        else:
            c.needs_you += 1
    refused = BatchRefusal.objects.filter(batch_id__in=batch_ids).values("batch_id", "role__company_id")
    for refusal in refused.annotate(n=Count("id")):
        c = tallies[refusal["batch_id"]].parts[refusal["role__company_id"]]
        c.needs_you += refusal["n"]
        c.items += refusal["n"]
    return tallies


def link(path: str) -> str:
    return f"{settings.SITE_URL}{path}"


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    path: str


def message_for(event: Event, tallies: dict[int, BatchTally], scope: Scope = EVERYONE) -> Message | None:
    """What the event says to a reader who sees `scope`; None when it is not theirs to see."""
    if event.type == EventType.BATCH_COMPLETED:
        batch = event.batch
        counts = tallies[batch.pk].seen_in(scope, batch) if batch else None
        return _batch_message(batch, counts, scope) if batch and counts else None
    if not scope.sees(event.company_id):
        return None
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


def _batch_message(batch: Batch, counts: BatchCounts, scope: Scope) -> Message:
    # The batch's name is its pusher's words about every company in it (Batch.seen_whole_by).
    title = f"{batch} ({batch.batch_id})" if scope.sees_whole(batch) else batch.batch_id
    who = ", ".join(sorted(counts.companies)) or title
    path = reverse("status-batch", args=[batch.pk])
    subject = f"{who} batch: {counts.summary()}"
    body = "\n".join(
        [
            f"{title} has finished: {counts.summary()}.",
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
