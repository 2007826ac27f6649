"""What the built-in draup-world simulator remembers: every call, and faults queued by tests
or by a person who wants to see a failure."""

from django.db import models


class SimulatorCall(models.Model):
    endpoint = models.CharField(max_length=40, db_index=True)
    idempotency_key = models.CharField(max_length=200, blank=True, db_index=True)
    trace_id = models.CharField(max_length=64, blank=True)
    status_code = models.PositiveSmallIntegerField()
    request = models.JSONField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    replayed = models.BooleanField(default=False)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            # One call per Idempotency-Key at work at a time: a repeat that arrives meanwhile
            # waits for the first one's answer instead of doing the work again.
            models.UniqueConstraint(
                fields=["endpoint", "idempotency_key"],
                condition=models.Q(status_code=0) & ~models.Q(idempotency_key=""),
                name="one_call_at_work_per_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.endpoint} {self.status_code} {self.idempotency_key}"


class FaultKind(models.TextChoices):
    SERVER_ERROR = "503", "503 Service Unavailable"
    RATE_LIMITED = "429", "429 Too Many Requests"
    BAD_REQUEST = "400", "400 Bad Request"
    UNAUTHORIZED = "401", "401 Unauthorized"
    HANG = "hang", "Hang past the client's timeout"
    BROKEN_BODY = "broken", "200 with a broken body"


class SimulatorFault(models.Model):
    """The next `remaining` calls to `endpoint` answer with this fault instead of working."""

    endpoint = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=FaultKind.choices)
    remaining = models.PositiveIntegerField(default=1)
    retry_after = models.PositiveIntegerField(null=True, blank=True)
    hang_seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.kind} x{self.remaining}"
