"""How a run moves: the only code that writes a run's status, lease, retry and cancel columns,
its steps' progress and its attempt rows, and that moves its role along with it.

A runner's writes carry its lease token: each one is a conditional UPDATE that renews the
lease and bumps `version` in the same statement, and raises LeaseLost when another runner
(or a cancel) has taken the run meanwhile. Nothing is written once the lease is lost.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

if TYPE_CHECKING:
    from .role import Role
    from .run import RunAttempt, RunManager, RunStep

CANCELLED = {"error": "CANCELLED", "message": "cancelled", "recoverable": True, "step": None}


class LeaseLost(Exception):
    """Another runner, or a cancel, holds the run now: stop without writing anything."""


def lease_until(now: datetime | None = None) -> datetime:
    return (now or timezone.now()) + timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)


def _ms_since(started: datetime, now: datetime) -> int:
    return max(0, int((now - started).total_seconds() * 1000))


class RunLifecycle:
    """Mixed into Run. Methods named for what happened; each is one short transaction."""

    # The fields of Run that these methods use: mypy cannot take a mixin's `self` to be the
    # class it is mixed into, so they are declared here (Run's own fields win at run time).
    if TYPE_CHECKING:
        pk: int
        role_id: int
        role: Role
        round: int
        status: str
        started_at: datetime | None
        objects: RunManager

    def _write_held(self, token: str, **fields: Any) -> None:
        changed = (
            type(self)
            .objects.filter(pk=self.pk, lease_owner=token)
            .update(lease_expires_at=lease_until(), version=F("version") + 1, **fields)
        )
        if changed != 1:
            raise LeaseLost(self.pk)

    # --- a runner works on it --------------------------------------------------------

    def start(self, token: str) -> None:
        """QUEUED -> PROCESSING, and the role with it."""
        from .role import Role, RoleState

        now = timezone.now()
        with transaction.atomic():
            role = Role.objects.select_for_update().get(pk=self.role_id)
            self._write_held(token, status="PROCESSING", started_at=now)
            if role.state == RoleState.QUEUED:
                role.apply("start", reason="A worker started the run")
                role.save()
        role.company = self.role.company  # loaded already: no query later, mid-call
        self.status, self.started_at, self.role = "PROCESSING", now, role

    def abandon_open_attempts(self) -> None:
        """Attempts a dead worker left open never got an answer: say so (they still count)."""
        from .run import RunAttempt

        if RunAttempt.objects.filter(run_id=self.pk, outcome="running").update(outcome="abandoned"):
            type(self).objects.filter(pk=self.pk).update(version=F("version") + 1)

    def begin_attempt(
        self,
        token: str,
        row: RunStep,
        *,
        call: str,
        number: int,
        max_attempts: int,
        worker: str,
        substate: str,
    ) -> RunAttempt:
        """Write the attempt row before the call, so a worker that dies mid-call leaves a
        trace; the step (and the role's sub-state) show it running."""
        from .role import Role
        from .run import RunAttempt

        now = timezone.now()
        row.attempts += 1
        row.status, row.started_at = "running", row.started_at or now
        with transaction.atomic():
            self._write_held(token, next_attempt_at=None, assessment_slot_at=None)
            type(row).objects.filter(pk=row.pk).update(
                status="running", attempts=row.attempts, started_at=row.started_at
            )
            if self.role.processing_step != substate:
                Role.objects.filter(pk=self.role_id).update(processing_step=substate)
                self.role.processing_step = substate
            return RunAttempt.objects.create(
                run_id=self.pk,
                step=row.name,
                call=call,
                round=self.round,
                number=number,
                max_attempts=max_attempts,
                started_at=now,
                worker=worker,
            )

    def attempt_succeeded(
        self,
        token: str,
        attempt: RunAttempt,
        row: RunStep,
        *,
        output: dict,
        http_status: int | None,
        replayed: bool,
    ) -> None:
        """The call's answer and what the step keeps of it, saved together."""
        now = timezone.now()
        row.output = {**row.output, **output}
        usage = output.get("usage") or {}  # an LLM-backed call says what it consumed
        step_fields: dict[str, Any] = {"output": row.output}
        if usage:
            row.input_tokens, row.output_tokens = usage["input_tokens"], usage["output_tokens"]
            step_fields.update(input_tokens=row.input_tokens, output_tokens=row.output_tokens)
        with transaction.atomic():
            self._write_held(token)
            type(row).objects.filter(pk=row.pk).update(**step_fields)
            type(attempt).objects.filter(pk=attempt.pk).update(
                outcome="succeeded",
                finished_at=now,
                duration_ms=_ms_since(attempt.started_at, now),
                http_status=http_status,
                replayed=replayed,
            )

    def attempt_failed(
        self,
        token: str,
        attempt: RunAttempt,
        row: RunStep,
        error: dict,
        *,
        retry_at: datetime | None,
    ) -> None:
        """A failed attempt; with `retry_at` the step waits for its next attempt, without it
        the step has failed for good."""
        now = timezone.now()
        row.status, row.error = ("retrying" if retry_at else "failed"), error
        step_fields: dict[str, Any] = {"status": row.status, "error": error}
        if retry_at is None:
            step_fields.update(finished_at=now, duration_ms=_ms_since(row.started_at or now, now))
        with transaction.atomic():
            self._write_held(token, next_attempt_at=retry_at)
            type(row).objects.filter(pk=row.pk).update(**step_fields)
            type(attempt).objects.filter(pk=attempt.pk).update(
                outcome="retrying" if retry_at else "failed",
                finished_at=now,
                duration_ms=_ms_since(attempt.started_at, now),
                http_status=error.get("http_status"),
                error=error,
                next_attempt_at=retry_at,
            )

    def step_completed(self, token: str, row: RunStep) -> None:
        now = timezone.now()
        row.status, row.error, row.finished_at = "completed", None, now
        row.duration_ms = _ms_since(row.started_at or now, now)
        with transaction.atomic():
            self._write_held(token)
            type(row).objects.filter(pk=row.pk).update(
                status="completed", error=None, finished_at=now, duration_ms=row.duration_ms
            )

    def step_failed(self, token: str, row: RunStep, error: dict) -> None:
        """A step that failed outside any call (its input is gone, a bug)."""
        now = timezone.now()
        row.status, row.error = "failed", error
        with transaction.atomic():
            self._write_held(token)
            type(row).objects.filter(pk=row.pk).update(
                status="failed",
                error=error,
                finished_at=now,
                duration_ms=_ms_since(row.started_at or now, now),
            )

    def step_skipped(self, token: str, row: RunStep, error: dict) -> None:
        """An optional step that cannot run: a step it needs failed. The error says which."""
        now = timezone.now()
        row.status, row.error = "skipped", error
        with transaction.atomic():
            self._write_held(token)
            type(row).objects.filter(pk=row.pk).update(status="skipped", error=error, finished_at=now)

    def finalizing(self, token: str) -> None:
        """Every step is done: the role's sub-state says the result is being stored."""
        from .role import Role

        with transaction.atomic():
            self._write_held(token)
            Role.objects.filter(pk=self.role_id, state="PROCESSING").update(processing_step="FINALIZE")

    def save_step_output(self, token: str, row: RunStep, **values: Any) -> None:
        row.output = {**row.output, **values}
        with transaction.atomic():
            self._write_held(token)
            type(row).objects.filter(pk=row.pk).update(output=row.output)

    def defer(self, token: str, until: datetime, *, assessment_slot: datetime | None = None) -> None:
        """Let go of the run until `until`: no thread waits minutes; a runner takes it then."""
        fields: dict[str, Any] = {"next_attempt_at": until}
        if assessment_slot is not None:
            fields["assessment_slot_at"] = assessment_slot
        changed = (
            type(self)
            .objects.filter(pk=self.pk, lease_owner=token)
            .update(lease_owner="", lease_expires_at=None, version=F("version") + 1, **fields)
        )
        if changed != 1:
            raise LeaseLost(self.pk)

    def finish(
        self, token: str, status: str, *, error: dict | None = None, assessment: dict | None = None
    ) -> None:
        """The run ends READY, DEGRADED or FAILED; the role moves with it and keeps the result."""
        from .role import Role

        with transaction.atomic():
            role = Role.objects.select_for_update().get(pk=self.role_id)
            self._end(token, status, error)
            if assessment is not None:
                role.store_assessment(assessment)
            if status == "READY":
                role.apply("finish_ready", reason="Assessment stored; visible on the Etter dashboard")
            elif status == "DEGRADED":
                role.apply("finish_degraded", reason=(error or {}).get("message", ""))
            else:
                failed = error or {}
                role.apply("fail", reason=f"{failed.get('step')}: {failed.get('message')}")
            role.save()
        self.status = status

    def _end(self, token: str, status: str, error: dict | None) -> None:
        changed = (
            type(self)
            .objects.filter(pk=self.pk, lease_owner=token)
            .update(
                status=status,
                finished_at=timezone.now(),
                error=error,
                lease_owner="",
                lease_expires_at=None,
                next_attempt_at=None,
                assessment_slot_at=None,
                version=F("version") + 1,
            )
        )
        if changed != 1:
            raise LeaseLost(self.pk)

    # --- a person acts on it ---------------------------------------------------------

    def cancel(self, *, by=None) -> Role:
        """End a queued or running run now: FAILED "cancelled". A runner in the middle of a
        call loses its lease, so whatever that call answers is discarded, and no later step
        starts. The caller holds no lock; this takes the role's."""
        from onboarding.errors import InvalidTransition

        from .role import Role

        with transaction.atomic():
            role = Role.objects.select_for_update().get(pk=self.role_id)
            changed = (
                type(self)
                .objects.in_flight()
                .filter(pk=self.pk)
                .update(
                    status="FAILED",
                    finished_at=timezone.now(),
                    error=CANCELLED,
                    cancel_requested=True,
                    cancel_requested_by=by,
                    lease_owner="",
                    lease_expires_at=None,
                    next_attempt_at=None,
                    assessment_slot_at=None,
                    version=F("version") + 1,
                )
            )
            if not changed:
                raise InvalidTransition(
                    current=role.state,
                    target="FAILED",
                    message=f"{role.name} is not queued or running: nothing to cancel.",
                )
            role.apply("cancel", by=by, reason="cancelled")
            role.save()
        return role


def discard_attempt(attempt: RunAttempt, why: str) -> None:
    """The answer of a call whose run was cancelled or taken over meanwhile: kept as history,
    never used. Needs no lease: it touches only this attempt's own row, and only if no one
    has closed it yet."""
    from .run import Run, RunAttempt

    now = timezone.now()
    discarded = RunAttempt.objects.filter(pk=attempt.pk, outcome="running").update(
        outcome="discarded",
        finished_at=now,
        duration_ms=_ms_since(attempt.started_at, now),
        error={"error": "DISCARDED", "message": why, "recoverable": True},
    )
    if discarded:  # what the status shows changed: pollers must not keep the old answer
        Run.objects.filter(pk=attempt.run_id).update(version=F("version") + 1)
