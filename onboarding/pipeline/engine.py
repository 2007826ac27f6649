"""Works on one claimed run, on one of a runner's threads, until it ends or has to wait.

The database is the source of truth; a queue message only says "there is work". Steps that
completed are never called again for that run, and every attempt of a call carries the same
Idempotency-Key, so a call cut off mid-way is answered once by draup-world. Attempts are
counted per call: role setup's two calls each get the contract's attempts. The thread holds a
database connection only while it writes, never while it waits on draup-world.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from onboarding.draup_world import CallContext, DraupWorldError
from onboarding.models import LeaseLost, Role, Run, RunAttempt, RunStatus, RunStep
from onboarding.models.run_lifecycle import discard_attempt

from . import pacing
from .steps import STEPS, Step

logger = logging.getLogger(__name__)
T = TypeVar("T")
# A restart or a dropped connection: transient, retried like any network trouble.
DATABASE_TROUBLE = (OperationalError, InterfaceError)


@dataclass
class Holding:
    """A run a runner holds: its lease token, and an event set when the lease is lost (a
    cancel, a takeover) or the runner stops, so that a waiting thread wakes at once."""

    run_id: int
    token: str
    worker: str = ""
    stop: threading.Event = field(default_factory=threading.Event)


class Deferred(Exception):
    """The run waits (a long retry wait, a far assessment slot): released, taken again later."""


class StepFailed(Exception):
    def __init__(self, error: dict):
        super().__init__(error.get("message", ""))
        self.error = error


@dataclass
class StepContext:
    """What a step function sees: its run and role, its own saved output, earlier outputs, and
    `attempt()`, through which every draup-world call goes."""

    run: Run
    row: RunStep
    rows: dict[str, RunStep]
    step: Step
    holding: Holding
    counts: Counter

    @property
    def role(self) -> Role:
        return self.run.role

    @property
    def use_simulator(self) -> bool:
        return bool(self.run.options.get("use_mock"))

    @property
    def output(self) -> dict:
        return self.row.output

    def output_of(self, step_name: str) -> dict:
        return self.rows[step_name].output

    def save_output(self, **values: Any) -> None:
        self.run.save_step_output(self.holding.token, self.row, **values)

    def attempt(self, call: str, fn: Callable[[CallContext], T], keep: Callable[[T], dict]) -> T:
        """Make one draup-world call under the step's retry policy: each attempt is a row,
        retryable errors wait (Retry-After is a floor) and go again, the rest fail the step.
        `keep` says what of the answer the step stores; it is saved with the attempt's
        success, in one transaction."""
        limit = self.step.policy.attempts * (1 + settings.PIPELINE_RECOVERY_ROUNDS)
        while True:
            if self.holding.stop.is_set():
                raise LeaseLost(self.run.pk)
            if self.step.paced and pacing.enabled():
                self._wait_for_assessment_slot()
            self.counts[(self.step.name, call)] += 1
            number = self.counts[(self.step.name, call)]
            attempt = self.run.begin_attempt(
                self.holding.token,
                self.row,
                call=call,
                number=number,
                max_attempts=self.step.policy.attempts,
                worker=self.holding.worker,
                substate=self.step.substate,
            )
            connection.close()  # back to the pool while draup-world works
            wire = CallContext(idempotency_key=f"{self.run.workflow_id}:{call}", trace_id=self.run.trace_id)
            try:
                value = fn(wire)
            except DraupWorldError as err:
                if self.step.paced and pacing.enabled():
                    pacing.feedback(rate_limited=err.code == "RATE_LIMITED")
                self._failed(attempt, call, err, number, limit)
                continue
            except Exception as exc:
                if isinstance(exc, DATABASE_TROUBLE):
                    raise
                logger.exception("run %s call %s crashed", self.run.workflow_id, call)
                crash = DraupWorldError(
                    "INTERNAL_ERROR", f"Unexpected error in {call}: {exc}", retryable=False
                )
                self._failed(attempt, call, crash, number, limit)  # not retryable: raises StepFailed
                continue
            self._succeeded(attempt, keep(value), wire)
            if self.step.paced and pacing.enabled():
                pacing.feedback(rate_limited=False)
            return value

    def _succeeded(self, attempt: RunAttempt, output: dict, wire: CallContext) -> None:
        with _discarded_if_lost(attempt):
            self.run.attempt_succeeded(
                self.holding.token,
                attempt,
                self.row,
                output=output,
                http_status=wire.http_status,
                replayed=wire.replayed,
            )

    def _failed(self, attempt: RunAttempt, call: str, err: DraupWorldError, number: int, limit: int) -> None:
        """Record the failure; return to try again, or raise StepFailed / Deferred."""
        error = {**err.as_dict(), "step": self.step.name, "call": call, "attempts": number}
        if not err.retryable or number >= limit:
            self._record_failure(attempt, error, None)
            raise StepFailed(error)
        wait = self._wait_after(number, err.retry_after)
        retry_at = timezone.now() + timedelta(seconds=wait)
        self._record_failure(attempt, error, retry_at)
        if wait > settings.PIPELINE_INLINE_WAIT_SECONDS:
            self.run.defer(self.holding.token, retry_at)
            raise Deferred
        if self.holding.stop.wait(wait):
            raise LeaseLost(self.run.pk)

    def _record_failure(self, attempt: RunAttempt, error: dict, retry_at) -> None:
        with _discarded_if_lost(attempt):
            self.run.attempt_failed(self.holding.token, attempt, self.row, error, retry_at=retry_at)

    def _wait_after(self, number: int, retry_after: float | None) -> float:
        """The policy's backoff within a block of attempts; when a block runs out on an error
        retrying can fix, a recovery pause before the next block."""
        policy = self.step.policy
        in_block = (number - 1) % policy.attempts + 1
        wait = policy.wait_after(in_block, retry_after)
        if in_block == policy.attempts:
            wait = max(wait, settings.PIPELINE_RECOVERY_WAIT_SECONDS)
        return wait

    def _wait_for_assessment_slot(self) -> None:
        slot = self.run.assessment_slot_at or pacing.next_slot()
        wait = (slot - timezone.now()).total_seconds()
        if wait > settings.PIPELINE_PACE_MAX_WAIT_SECONDS:
            self.run.defer(self.holding.token, slot, assessment_slot=slot)
            raise Deferred
        self.run.assessment_slot_at = None
        if wait > 0 and self.holding.stop.wait(wait):
            raise LeaseLost(self.run.pk)


@contextmanager
def _discarded_if_lost(attempt: RunAttempt) -> Iterator[None]:
    """An answer that comes after the run was cancelled or taken over is kept as history,
    marked discarded, and the thread stops."""
    try:
        yield
    except LeaseLost:
        discard_attempt(attempt, "The run was cancelled or taken over while this call ran.")
        raise


# --- one run -----------------------------------------------------------------------------

DATABASE_RETRIES = 5


def advance(holding: Holding) -> None:
    """Work on a claimed run until it ends, waits, or the lease is lost. A database hiccup
    (restart, dropped connection) is waited out and the run picked up where it was; if the
    database stays away, the lease expires and another runner resumes the run."""
    for trouble in range(DATABASE_RETRIES + 1):
        try:
            _advance(holding)
            return
        except LeaseLost:
            logger.info("run %s: lease lost (cancelled or taken over)", holding.run_id)
            return
        except DATABASE_TROUBLE as exc:
            logger.warning("run %s: database trouble (%s), retrying", holding.run_id, exc)
            connection.close()
            if trouble == DATABASE_RETRIES or holding.stop.wait(min(30.0, 0.5 * 2**trouble)):
                return
        finally:
            connection.close()


def _advance(holding: Holding) -> None:
    run = Run.objects.select_related("role__company").get(pk=holding.run_id)
    if run.lease_owner != holding.token:
        raise LeaseLost(run.pk)
    earlier = list(run.attempts.filter(round=run.round).values_list("step", "call", "outcome"))
    if any(outcome == "running" for *_, outcome in earlier):
        run.abandon_open_attempts()
    if run.status == RunStatus.QUEUED:
        run.start(holding.token)
    rows = {row.name: row for row in run.steps.all()}
    counts: Counter = Counter((step, call) for step, call, _ in earlier)
    skipped: list[str] = []
    for step in STEPS:
        row = rows[step.name]
        if row.status == "completed":
            continue
        ctx = StepContext(run, row, rows, step, holding, counts)
        try:
            _run_step(ctx)
        except Deferred:
            return
        except StepFailed as failed:
            if not step.optional:
                return run.finish(holding.token, RunStatus.FAILED, error=failed.error)
            skipped.append(step.name)
    assessment = rows["ai_assessment"].output if "ai_assessment" in rows else None
    if skipped:
        error = {
            "error": "OPTIONAL_STEPS_FAILED",
            "recoverable": True,
            "step": skipped[0],
            "message": "Ready, but these optional steps failed: " + ", ".join(skipped),
        }
        return run.finish(holding.token, RunStatus.DEGRADED, error=error, assessment=assessment)
    run.finish(holding.token, RunStatus.READY, assessment=assessment)


def _run_step(ctx: StepContext) -> None:
    """Run one step; raise StepFailed with the error that ended it, or Deferred."""
    run, step, token = ctx.run, ctx.step, ctx.holding.token
    started = time.monotonic()
    try:
        step.execute(ctx)
    except (Deferred, StepFailed, LeaseLost):
        raise
    except DATABASE_TROUBLE:
        raise
    except DraupWorldError as err:  # raised by the step itself: its input is not usable
        _fail_step(ctx, {**err.as_dict(), "step": step.name, "attempts": ctx.row.attempts})
    except Exception as exc:  # a bug or a broken input must end the run, not loop it
        logger.exception("run %s step %s crashed", run.workflow_id, step.name)
        error = DraupWorldError("INTERNAL_ERROR", f"Unexpected error in {step.name}: {exc}", retryable=False)
        _fail_step(ctx, {**error.as_dict(), "step": step.name, "attempts": ctx.row.attempts})
    run.step_completed(token, ctx.row)
    logger.info("run %s step %s done in %.2fs", run.workflow_id, step.name, time.monotonic() - started)


def _fail_step(ctx: StepContext, error: dict) -> None:
    ctx.run.step_failed(ctx.holding.token, ctx.row, error)
    raise StepFailed(error)
