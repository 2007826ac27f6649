"""The one application error: a machine-readable code, words a CSM can act on, and whether
trying again can help. The admin, the API and the run records all show it the same way."""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    status = 400

    def __init__(
        self, code: str, message: str, *, recoverable: bool = False, status: int | None = None, **extra: Any
    ):
        super().__init__(message)
        if status is not None:
            self.status = status
        self.code = code
        self.message = message
        self.recoverable = recoverable
        self.extra = extra

    def as_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "recoverable": self.recoverable, **self.extra}


class InvalidTransition(AppError):
    def __init__(self, *, current: str, target: str, message: str = ""):
        super().__init__(
            "INVALID_TRANSITION",
            message or f"A role in state {current} cannot move to {target}.",
            recoverable=False,
            current_state=current,
            target_state=target,
        )


class ValidationFailed(AppError):
    def __init__(self, message: str, **extra: Any):
        super().__init__("VALIDATION_ERROR", message, recoverable=True, **extra)


class AlreadyInFlight(AppError):
    status = 409

    def __init__(self, *, workflow_id: str, role_name: str):
        super().__init__(
            "CONFLICT",
            f"{role_name} is already being pushed (run {workflow_id}); wait for it or cancel it.",
            recoverable=True,
            workflow_id=workflow_id,
        )


class NotFound(AppError):
    status = 404

    def __init__(self, message: str):
        super().__init__("NOT_FOUND", message, recoverable=False)


class Forbidden(AppError):
    status = 403

    def __init__(self, message: str):
        super().__init__("FORBIDDEN", message, recoverable=False)


class RoleExists(AppError):
    """A push named a role that exists, and the caller chose to skip existing roles."""

    status = 409

    def __init__(self, role):
        super().__init__(
            "ROLE_EXISTS",
            f"{role.name} already exists at {role.company.name} ({role.get_state_display()}): nothing "
            "was changed. Send on_existing=update or reassess to change or re-assess it.",
            recoverable=False,
            role_id=str(role.pk),
        )


class QueueFull(AppError):
    """The push would take the queue past PIPELINE_MAX_QUEUED_RUNS: come back later."""

    status = 429

    def __init__(self, *, queued: int, asked: int, limit: int, retry_after: int):
        super().__init__(
            "QUEUE_FULL",
            f"The pipeline's queue is full: {queued:,} runs wait and this push adds {asked:,}, past the "
            f"limit of {limit:,}. Nothing was queued; try again in {retry_after} s, or push fewer roles.",
            recoverable=True,
            retry_after=retry_after,
        )
        self.headers = {"Retry-After": str(retry_after)}
