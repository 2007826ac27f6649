"""What happens around the lifecycle: events (the outbox), rules that turn them into emails,
webhooks and inbox entries, the deliveries with every attempt, and SLA tracking."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import models
from django.db.models import Q

from onboarding.explain import ENGINEER, NEEDS_YOU, RETRYING
from onboarding.models import RoleState


def _role_event_types() -> list[tuple[str, str]]:
    return [(f"role.{s.value.lower()}", f"Role became {s.label}") for s in RoleState]


class EventType:
    BATCH_COMPLETED = "batch.completed"
    SLA_BREACHED = "sla.breached"
    CHOICES = [
        *_role_event_types(),
        (BATCH_COMPLETED, "Batch completed"),
        (SLA_BREACHED, "SLA breached"),
    ]

    @staticmethod
    def for_state(state: str) -> str:
        return f"role.{state.lower()}"


ERROR_CLASSES = [(NEEDS_YOU, "Needs you"), (ENGINEER, "Needs an engineer"), (RETRYING, "Retrying")]


class Event(models.Model):
    """One row per role transition, batch completion or SLA breach, written in the transaction
    of the change. `processed_at` empty = still to handle; `claimed_until` is the lease of the
    processor working on it (a dead processor's events are claimed again once it expires)."""

    type = models.CharField(max_length=40, choices=EventType.CHOICES, db_index=True)
    role = models.ForeignKey(
        "onboarding.Role", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    company = models.ForeignKey(
        "onboarding.Company", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    run = models.ForeignKey(
        "onboarding.Run", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    batch = models.ForeignKey(
        "batches.Batch", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True)
    error_class = models.CharField(max_length=12, choices=ERROR_CLASSES, blank=True)
    correlation_id = models.CharField("correlation id", max_length=64, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["id"], condition=Q(processed_at__isnull=True), name="event_unprocessed"),
        ]
        constraints = [
            # A batch completes once, a run breaches its SLA once: a re-run processor cannot
            # announce them twice.
            models.UniqueConstraint(
                fields=["batch"],
                condition=Q(type=EventType.BATCH_COMPLETED),
                name="one_batch_completed_event",
            ),
            models.UniqueConstraint(
                fields=["run"], condition=Q(type=EventType.SLA_BREACHED), name="one_sla_breach_event_per_run"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.type}"

    @property
    def is_role_event(self) -> bool:
        return self.type.startswith("role.")


class Recipients(models.TextChoices):
    PUSHER = "pusher", "The person who pushed"
    COMPANY_CSMS = "csms", "The company's CSMs"
    ADDRESSES = "addresses", "These addresses"


class Action(models.TextChoices):
    EMAIL = "email", "Send an email"
    WEBHOOK = "webhook", "Call a webhook"
    INBOX = "inbox", "Add to the in-app inbox"


class BatchScope(models.TextChoices):
    ANY = "any", "Any push"
    ONLY_BATCHES = "batch", "Only roles pushed in a batch"
    NOT_BATCHES = "single", "Only roles pushed on their own"


def new_webhook_secret() -> str:
    return secrets.token_hex(24)


class Rule(models.Model):
    """When <event type and conditions>, do <action>. Only structured fields: nothing a user
    types is ever evaluated as code."""

    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    built_in = models.BooleanField(default=False, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="A rule made by a CSM only sees the companies assigned to them.",
    )
    # When
    event_type = models.CharField(max_length=40, choices=EventType.CHOICES)
    company = models.ForeignKey(
        "onboarding.Company",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        help_text="Empty: every company.",
    )
    state = models.CharField(
        max_length=20, choices=RoleState.choices, blank=True, help_text="The role's state after the event."
    )
    error_class = models.CharField(
        max_length=12, choices=ERROR_CLASSES, blank=True, help_text="Who has to act on the failure."
    )
    batch_scope = models.CharField(max_length=10, choices=BatchScope.choices, default=BatchScope.ANY)
    only_if_notify_requested = models.BooleanField(
        "only if the push asked to be notified",
        default=False,
        help_text="Only pushes made with notify_on_complete.",
    )
    # Do what
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.EMAIL)
    recipients = models.CharField(max_length=10, choices=Recipients.choices, default=Recipients.PUSHER)
    addresses = models.TextField(blank=True, help_text="Email addresses, separated by commas or new lines.")
    webhook_url = models.URLField("webhook URL", max_length=1000, blank=True)
    webhook_secret = models.CharField(
        max_length=64,
        default=new_webhook_secret,
        help_text="Signs every webhook call (header X-Etter-Signature).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def address_list(self) -> list[str]:
        return [a.strip() for a in self.addresses.replace("\n", ",").split(",") if a.strip()]

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.action == Action.WEBHOOK and not self.webhook_url:
            errors["webhook_url"] = "A webhook rule needs the URL to call (https://...)."
        elif self.webhook_url and not self.webhook_url.startswith(("https://", "http://")):
            errors["webhook_url"] = "A webhook URL starts with https:// (or http://)."
        if self.action == Action.EMAIL and self.recipients == Recipients.ADDRESSES:
            errors.update(self._address_errors())
        if self.action == Action.INBOX and self.recipients == Recipients.ADDRESSES:
            errors["recipients"] = "The inbox belongs to users: choose the pusher or the company's CSMs."
        if self.error_class and not (
            self.event_type.startswith("role.") or self.event_type == "sla.breached"
        ):
            errors["error_class"] = "Only role events and SLA breaches have an error class."
        if errors:
            raise ValidationError(errors)

    def _address_errors(self) -> dict[str, str]:
        addresses = self.address_list()
        if not addresses:
            return {"addresses": "Give at least one email address, or send to the pusher or the CSMs."}
        bad = []
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                bad.append(address)
        if bad:
            return {"addresses": f"Not valid email addresses: {', '.join(bad)}. Fix or remove them."}
        return {}

    def matches(self, event: Event, *, in_batch: bool, notify_requested: bool) -> bool:
        """Structured conditions only: each one a plain comparison of fields."""
        return (
            self.event_type == event.type
            and (self.company_id is None or self.company_id == event.company_id)
            and (not self.state or self.state == event.to_state)
            and (not self.error_class or self.error_class == event.error_class)
            and (not self.only_if_notify_requested or notify_requested)
            and (
                self.batch_scope == BatchScope.ANY
                or (self.batch_scope == BatchScope.ONLY_BATCHES) == in_batch
            )
        )


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RETRYING = "retrying", "Waiting to retry"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (gave up)"


class Delivery(models.Model):
    """One email or webhook call owed for one event by one rule to one target. Unique: an
    event handled twice (at-least-once) owes it once."""

    event = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.CASCADE, related_name="deliveries"
    )
    rule = models.ForeignKey(
        Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="deliveries"
    )
    channel = models.CharField(max_length=10, choices=Action.choices)
    target = models.CharField(max_length=1000, help_text="An email address or a URL.")
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    payload = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    is_test = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "rule", "target"], name="one_delivery_per_event_rule_target"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} to {self.target}"


class DeliveryAttempt(models.Model):
    """One try of a delivery, saved before the call and completed after it: the answer of
    every attempt stays, the second error does not erase the first."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        SENT = "sent", "Sent"
        RETRY = "retry", "Failed, will retry"
        FAILED = "failed", "Failed"

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.RUNNING)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    answer = models.TextField(blank=True, help_text="The start of the receiver's answer, or the error.")
    started_at = models.DateTimeField(auto_now_add=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["delivery", "number"]

    def __str__(self) -> str:
        return f"{self.delivery_id}#{self.number} {self.outcome}"


class InboxItem(models.Model):
    """What needs a CSM, in the app: one per user and event and rule."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="inbox_items")
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(Rule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["user", "read_at"])]
        constraints = [models.UniqueConstraint(fields=["user", "event", "rule"], name="one_inbox_item")]

    def __str__(self) -> str:
        return self.title


class SlaConfig(models.Model):
    """Push -> READY target. The row without a company is the default; a company row wins."""

    company = models.OneToOneField(
        "onboarding.Company", null=True, blank=True, on_delete=models.CASCADE, help_text="Empty: the default."
    )
    target_minutes = models.FloatField(default=15.0, help_text="Push to READY, in minutes (0.1 = 6 s).")
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name = "SLA config"
        constraints = [
            models.UniqueConstraint(
                fields=["company"], condition=Q(company__isnull=True), name="one_default_sla"
            ),
            models.CheckConstraint(condition=Q(target_minutes__gt=0), name="sla_target_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.company or 'Default'}: {self.target_minutes:g} min"


class SlaRecord(models.Model):
    """One per run, from its first push to its end. Breached while still in flight when the
    target passes (the SLA job), or at the end when it took longer."""

    run = models.OneToOneField("onboarding.Run", on_delete=models.CASCADE, related_name="+")
    role = models.ForeignKey("onboarding.Role", on_delete=models.CASCADE, related_name="+")
    company = models.ForeignKey("onboarding.Company", on_delete=models.CASCADE, related_name="+")
    batch = models.ForeignKey(
        "batches.Batch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(help_text="When the run was pushed.")
    target_seconds = models.FloatField()
    due_at = models.DateTimeField(db_index=True)
    processing_at = models.DateTimeField(null=True, blank=True, help_text="When a worker first started it.")
    queue_wait_seconds = models.FloatField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, blank=True, help_text="The state the run ended in.")
    actual_seconds = models.FloatField(null=True, blank=True)
    breached = models.BooleanField(default=False, db_index=True)
    breached_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "SLA record"

    def __str__(self) -> str:
        return f"SLA of run {self.run_id}"

    @property
    def target_minutes(self) -> float:
        return round(self.target_seconds / 60, 2)
