"""A run is one push of one role: a stable workflow id and, step by step, what happened.

It is the single source of truth the worker, the sweep, the status pages and the API read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from .run_lifecycle import RunLifecycle, lease_until


def new_workflow_id() -> str:
    return f"role-onboard-{uuid.uuid4().hex}"


def new_trace_id() -> str:
    return uuid.uuid4().hex


class RunStatus(models.TextChoices):
    QUEUED = "QUEUED", "Queued"
    PROCESSING = "PROCESSING", "Processing"
    READY = "READY", "Ready"
    DEGRADED = "DEGRADED", "Degraded"
    FAILED = "FAILED", "Failed"


RUN_IN_FLIGHT = [RunStatus.QUEUED, RunStatus.PROCESSING]


class StepStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Waiting to retry"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    # An optional step that could not run: a step it needs failed (the error says which).
    SKIPPED = "skipped", "Skipped"


class RunQuerySet(models.QuerySet):
    def in_flight(self) -> RunQuerySet:
        return self.filter(status__in=RUN_IN_FLIGHT)

    def claimable(self, now) -> RunQuerySet:
        """In flight, not held by a live runner, and not waiting for a retry."""
        return self.in_flight().filter(
            Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now),
            Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        )

    def held(self, now) -> RunQuerySet:
        return self.in_flight().filter(lease_expires_at__gt=now)

    def claim(self, ids: Iterable[int], token: str, now: datetime) -> list[int]:
        """Take those of `ids` that are still claimable, under lease `token`; a runner that
        races us for a run gets none of the ones we got (the UPDATE re-checks each row)."""
        ids = list(ids)
        if not ids:
            return []
        self.claimable(now).filter(pk__in=ids).update(lease_owner=token, lease_expires_at=lease_until(now))
        return list(self.filter(pk__in=ids, lease_owner=token).values_list("pk", flat=True))

    def renew(self, tokens: Iterable[str]) -> int:
        """One heartbeat for every run a runner holds."""
        return self.filter(lease_owner__in=list(tokens)).update(lease_expires_at=lease_until())

    def release(self, tokens: Iterable[str]) -> int:
        return self.filter(lease_owner__in=list(tokens)).update(lease_owner="", lease_expires_at=None)

    def touch(self) -> int:
        """What these runs' status shows changed from outside them (their role went STALE):
        pollers holding the old version must fetch it again."""
        return self.update(version=F("version") + 1)

    def release_runner(self, runner_name: str) -> int:
        """Every lease of a runner known to be gone: its runs can be taken over at once."""
        return (
            self.in_flight()
            .filter(lease_owner__startswith=f"{runner_name}:")
            .update(lease_owner="", lease_expires_at=None)
        )

    def reopen(self, *, batch_key: str = "", priority: str = "") -> int:
        """A retry: the same runs go again as their next round. Completed steps stay completed
        (nothing done is done twice); the others start afresh with their full attempts."""
        now = timezone.now()
        fields: dict[str, Any] = dict(
            status=RunStatus.QUEUED,
            queued_at=now,
            finished_at=None,
            error=None,
            next_attempt_at=None,
            assessment_slot_at=None,
            cancel_requested=False,
            cancel_requested_by=None,
            lease_owner="",
            lease_expires_at=None,
            round=F("round") + 1,
            version=F("version") + 1,
        )
        if batch_key:
            fields["batch_key"] = batch_key
        if priority:
            fields["priority"] = priority
            fields["queue_key"] = queue_key_for(priority, now)
        else:
            urgent = queue_key_for(Priority.URGENT, now)
            fields["queue_key"] = Case(When(priority=Priority.URGENT, then=Value(urgent)), default=Value(now))
        RunStep.objects.filter(run__in=self).exclude(status=StepStatus.COMPLETED).update(
            status=StepStatus.PENDING,
            attempts=0,
            error=None,
            started_at=None,
            finished_at=None,
            duration_ms=None,
        )
        return self.update(**fields)


class Priority(models.TextChoices):
    NORMAL = "normal", "Normal"
    URGENT = "urgent", "Urgent"


def queue_key_for(priority: str, now: datetime) -> datetime:
    """Where a run joins the queue: an urgent one as if pushed PIPELINE_URGENT_HEAD_START_SECONDS
    earlier. It overtakes normal runs pushed within that time, never one that has waited
    longer, so urgent work cannot starve normal work."""
    if priority == Priority.URGENT:
        return now - timedelta(seconds=settings.PIPELINE_URGENT_HEAD_START_SECONDS)
    return now


RunManager = models.Manager.from_queryset(RunQuerySet)


class Run(RunLifecycle, models.Model):
    workflow_id = models.CharField(max_length=64, unique=True, default=new_workflow_id, editable=False)
    trace_id = models.CharField(max_length=32, default=new_trace_id, editable=False)
    role = models.ForeignKey("onboarding.Role", on_delete=models.CASCADE, related_name="runs")
    # The public id of the batch this run was last pushed in. A label, not a foreign key: batches
    # build on onboarding, so onboarding stores the id the batches app gives it and nothing more.
    batch_key = models.CharField("batch", max_length=64, blank=True, default="", db_index=True)
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    options = models.JSONField(default=dict, blank=True)
    # 1 for the first push; a retry reopens the same run as the next round. Attempts are
    # counted per round, so a retried run gets its full attempts again.
    round = models.PositiveSmallIntegerField(default=1)

    queued_at = models.DateTimeField(auto_now_add=True, db_index=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    # The claim order: queued_at, moved ahead for an urgent run (see queue_key_for).
    queue_key = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # The worker holding the run, until when; renewed while a long call runs.
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    # A retry that waits: the run is not picked up before this time.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # An assessment slot reserved under the rate limit, used when the run comes back.
    assessment_slot_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    cancel_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    error = models.JSONField(null=True, blank=True)
    # Bumped by every write that changes what the run's status shows (run, steps, attempts,
    # its role's state): pollers compare it (ETag) instead of re-reading everything.
    version = models.PositiveIntegerField(default=0)

    objects = RunManager()
    # Not a column: a push that keeps the last run's draup-world company role names it here.
    kept_company_role: str

    class Meta:
        ordering = ["-queued_at", "-id"]
        constraints = [
            # Two pushes of one role racing each other: the database lets exactly one through.
            models.UniqueConstraint(
                fields=["role"], condition=Q(status__in=RUN_IN_FLIGHT), name="one_run_in_flight_per_role"
            ),
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at", "queue_key"])]

    def __str__(self) -> str:
        return self.workflow_id

    @property
    def in_flight(self) -> bool:
        return self.status in RUN_IN_FLIGHT

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at and self.finished_at:
            return (self.finished_at - self.started_at).total_seconds()
        return None


class RunStep(models.Model):
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    name = models.CharField(max_length=50)
    position = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=10, choices=StepStatus.choices, default=StepStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    # What the step produced (company_role_id, jd_id, the assessment): later steps read it.
    output = models.JSONField(default=dict, blank=True)
    # Tokens the step's LLM call consumed (contract, "Usage"), as columns so that a run, a
    # role, a batch or a company is summed in one aggregate query.
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    # Not a column: the status page sets it to the step's latest attempt, for its words.
    last_attempt: RunAttempt | None

    class Meta:
        ordering = ["run", "position"]
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="step_name_unique_per_run")]

    def __str__(self) -> str:
        return f"{self.run.workflow_id}:{self.name}"


class AttemptOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    RETRYING = "retrying", "Failed, will retry"
    FAILED = "failed", "Failed"
    # The answer came after the run was cancelled or taken over: it was not used.
    DISCARDED = "discarded", "Discarded"
    # The worker died mid-call; the next worker took the run over.
    ABANDONED = "abandoned", "Abandoned"


class RunAttempt(models.Model):
    """One attempt of one draup-world call of one step: appended, never overwritten, so the
    second error does not erase the first."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="attempts")
    step = models.CharField(max_length=50)
    call = models.CharField(max_length=50)
    round = models.PositiveSmallIntegerField(default=1)
    number = models.PositiveSmallIntegerField()
    max_attempts = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=10, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    # draup-world answered from its idempotency record: the work was done by an earlier attempt.
    replayed = models.BooleanField(default=False)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["run", "id"]
        indexes = [models.Index(fields=["run", "round", "step", "call"])]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.step}:{self.call}#{self.number}"

    @property
    def call_label(self) -> str:
        return CALL_LABELS.get(self.call, self.call.replace("_", " "))

    @property
    def summary(self) -> str:
        """What a CSM reads: "AI assessment: attempt 2 of 5: rate-limited, next at 10:42:05 UTC"."""
        return f"{self.call_label}: {self.progress}"

    @property
    def progress(self) -> str:
        """ "attempt 2 of 3: rate-limited, next at ..." (the contract's attempts; after a
        recovery pause the count starts again, and says so)."""
        rounds, within = divmod(self.number - 1, self.max_attempts)
        text = f"attempt {within + 1} of {self.max_attempts}"
        if rounds:
            text += f" (recovery round {rounds})"
        if self.outcome == AttemptOutcome.RUNNING:
            return text + ": waiting for draup-world"
        if self.outcome == AttemptOutcome.SUCCEEDED:
            return text + (": answered (from draup-world's record of it)" if self.replayed else ": answered")
        why = ATTEMPT_ERRORS.get(
            (self.error or {}).get("error", ""), (self.error or {}).get("message", "failed")
        )
        text += f": {why}"
        if self.outcome == AttemptOutcome.RETRYING and self.next_attempt_at:
            text += f", next at {timezone.localtime(self.next_attempt_at):%H:%M:%S %Z}"
        elif self.outcome == AttemptOutcome.FAILED:
            text += ", no more attempts"
        return text


CALL_LABELS = {
    "create_company_role": "Create the company role",
    "link_job_description": "Link the job description",
    "run_ai_assessment": "AI assessment",
}
ATTEMPT_ERRORS = {
    "RATE_LIMITED": "rate-limited",
    "SERVER_ERROR": "draup-world had trouble",
    "TIMEOUT": "no answer in time",
    "CONNECTION_ERROR": "could not reach draup-world",
    "DISCARDED": "answer discarded (the run was cancelled or taken over)",
    "INTERNAL_ERROR": "an unexpected error in the pipeline",
}


class PipelineRunner(models.Model):
    """A live pipeline runner (one per busy django-q2 worker process): its heartbeat says it
    is alive, and its cluster caps how many runners one machine starts."""

    name = models.CharField(max_length=100, unique=True)
    cluster = models.CharField(max_length=100, db_index=True)
    host = models.CharField(max_length=100)
    pid = models.PositiveIntegerField()
    capacity = models.PositiveIntegerField()
    holding = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Throttle(models.Model):
    """Paces calls across every worker: the next free start time for one kind of call.

    Its rate drops when draup-world answers 429 anyway, and climbs back after successes.
    """

    name = models.CharField(max_length=40, unique=True)
    next_free_at = models.DateTimeField(null=True, blank=True)
    rate_factor = models.FloatField(default=1.0)

    def __str__(self) -> str:
        return self.name
