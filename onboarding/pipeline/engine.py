"""Runs one claimed run, step by step.

The database is the source of truth; a queue message only says "there is work". A worker
claims a run with a conditional UPDATE that sets a lease, renews the lease while a call runs,
and writes nothing once the lease is lost. A worker that dies leaves a lease that expires;
the sweep then wakes a worker that resumes the run at the first step not completed. Steps
that completed are never called again for that run, and every call of a step carries the same
Idempotency-Key, so a call cut off mid-way is answered once by draup-world.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from onboarding.draup_world import CallContext, DraupWorldError
from onboarding.models import Company, Role, RoleState, Run, RunStatus, RunStep, StepStatus

from . import pacing
from .steps import STEPS, Step

logger = logging.getLogger(__name__)

CANCELLED = {"error": "CANCELLED", "message": "cancelled", "recoverable": True, "step": None}


class LeaseLost(Exception):
    """Another worker holds the run now: stop without writing anything."""


class Outcome(Enum):
    DONE = "done"
    FAILED = "failed"
    DEFERRED = "deferred"
    CANCELLED = "cancelled"


def _lease() -> timedelta:
    return timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)


def _new_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


# --- claiming and holding --------------------------------------------------------------


def claim(run_id: int | None = None) -> tuple[int, str] | None:
    """Take the given run, or the oldest waiting one, if no live worker holds it and its
    company has a free slot under PIPELINE_COMPANY_CONCURRENCY."""
    now = timezone.now()
    limit = settings.PIPELINE_COMPANY_CONCURRENCY
    candidates = Run.objects.claimable(now)
    if run_id is not None:
        candidates = candidates.filter(pk=run_id)
    if limit:
        candidates = candidates.exclude(role__company_id__in=_full_companies(now, limit))
    for pk, company_id in candidates.order_by("queued_at", "id").values_list("pk", "role__company_id")[:5]:
        token = _new_token()
        with transaction.atomic():
            if limit:
                # One claimer per company at a time: two workers cannot both take the last slot.
                list(Company.objects.select_for_update().filter(pk=company_id).values_list("pk"))
                if _held(now).filter(role__company_id=company_id).count() >= limit:
                    continue
            taken = (
                Run.objects.claimable(now)
                .filter(pk=pk)
                .update(lease_owner=token, lease_expires_at=now + _lease())
            )
        if taken:
            return pk, token
    return None


def _held(now):
    return Run.objects.in_flight().filter(lease_expires_at__gt=now)


def _full_companies(now, limit: int):
    return (
        _held(now)
        .values("role__company_id")
        .annotate(held=Count("id"))
        .filter(held__gte=limit)
        .values("role__company_id")
    )


def _hold(run_id: int, token: str) -> None:
    """Renew the lease before a write; raise LeaseLost if the run is no longer ours."""
    renewed = Run.objects.filter(pk=run_id, lease_owner=token).update(
        lease_expires_at=timezone.now() + _lease(), version=F("version") + 1
    )
    if renewed != 1:
        raise LeaseLost(run_id)


def _release(run_id: int, token: str) -> None:
    Run.objects.filter(pk=run_id, lease_owner=token).update(lease_owner="", lease_expires_at=None)


class Heartbeat:
    """Renews the lease from a thread while a long call or a retry wait runs."""

    def __init__(self, run_id: int, token: str):
        self.run_id, self.token, self.lost = run_id, token, False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        self._thread.join()
        if self.lost and exc_type is None:
            raise LeaseLost(self.run_id)

    def _beat(self) -> None:
        interval = max(0.1, settings.PIPELINE_LEASE_SECONDS / 3)
        try:
            while not self._stop.wait(interval):
                try:
                    _hold(self.run_id, self.token)
                except LeaseLost:
                    self.lost = True
                    return
        finally:
            connection.close()


# --- one run -----------------------------------------------------------------------------


@dataclass
class StepContext:
    """What a step function sees: its run, its role, its own saved output, earlier outputs."""

    run: Run
    row: RunStep
    rows: dict[str, RunStep]
    token: str

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

    def call(self, endpoint: str) -> CallContext:
        return CallContext(idempotency_key=f"{self.run.workflow_id}:{endpoint}", trace_id=self.run.trace_id)

    def save_output(self, **values) -> None:
        self.row.output = {**self.row.output, **values}
        with transaction.atomic():
            _hold(self.run.pk, self.token)
            self.row.save(update_fields=["output"])


def advance(run_id: int, token: str) -> None:
    """Work on a claimed run until it ends, waits for a retry, or the lease is lost."""
    try:
        _advance(run_id, token)
    except LeaseLost:
        logger.warning("run %s: lease lost, another worker has it", run_id)


def _advance(run_id: int, token: str) -> None:
    run = Run.objects.select_related("role__company").get(pk=run_id)
    if run.status == RunStatus.QUEUED:
        _start(run, token)
    rows = {row.name: row for row in run.steps.all()}
    skipped: list[str] = []
    for step in STEPS:
        row = rows[step.name]
        if row.status == StepStatus.COMPLETED:
            continue
        outcome = _run_step(StepContext(run, row, rows, token), step)
        if outcome is Outcome.DEFERRED:
            return
        if outcome is Outcome.CANCELLED:
            return _finish(run, token, RunStatus.FAILED, error=CANCELLED)
        if outcome is Outcome.FAILED:
            if not step.optional:
                return _finish(run, token, RunStatus.FAILED, error=row.error)
            skipped.append(step.name)
    if _cancel_requested(run):  # asked while the last step ran: honour it, as the CSM expects
        return _finish(run, token, RunStatus.FAILED, error=CANCELLED)
    if skipped:
        error = {
            "error": "OPTIONAL_STEPS_FAILED",
            "recoverable": True,
            "step": skipped[0],
            "message": "Ready, but these optional steps failed: " + ", ".join(skipped),
        }
        return _finish(run, token, RunStatus.DEGRADED, error=error, rows=rows)
    _finish(run, token, RunStatus.READY, rows=rows)


def _start(run: Run, token: str) -> None:
    with transaction.atomic():
        role = Role.objects.select_for_update().get(pk=run.role_id)
        _hold(run.pk, token)
        run.status, run.started_at = RunStatus.PROCESSING, timezone.now()
        run.save(update_fields=["status", "started_at"])
        if role.state == RoleState.QUEUED:
            role.apply("start", reason="A worker started the run")
            role.save()
    run.role = role


def _cancel_requested(run: Run) -> bool:
    return Run.objects.filter(pk=run.pk, cancel_requested=True).exists()


def _run_step(ctx: StepContext, step: Step) -> Outcome:
    row = ctx.row
    while True:
        if _cancel_requested(ctx.run):
            return Outcome.CANCELLED
        if step.paced and pacing.enabled() and not _wait_for_slot(ctx):
            return Outcome.DEFERRED
        _begin_attempt(ctx, step)
        started = time.monotonic()
        try:
            with Heartbeat(ctx.run.pk, ctx.token):
                step.execute(ctx)
        except DraupWorldError as err:
            failure, retryable, retry_after = err, err.retryable, err.retry_after
            if step.paced and pacing.enabled():
                pacing.feedback(rate_limited=err.code == "RATE_LIMITED")
        except LeaseLost:
            raise
        except Exception as exc:  # a bug or a broken input must end the run, not loop it
            logger.exception("run %s step %s crashed", ctx.run.workflow_id, step.name)
            failure = DraupWorldError(
                "INTERNAL_ERROR", f"Unexpected error in {step.name}: {exc}", retryable=False
            )
            retryable, retry_after = False, None
        else:
            _end_attempt(ctx, StepStatus.COMPLETED, started)
            if step.paced and pacing.enabled():
                pacing.feedback(rate_limited=False)
            return Outcome.DONE
        error = {**failure.as_dict(), "step": step.name, "attempts": row.attempts}
        if not retryable or row.attempts >= step.policy.attempts:
            _end_attempt(ctx, StepStatus.FAILED, started, error=error)
            return Outcome.FAILED
        wait = step.policy.wait_after(row.attempts, retry_after)
        _end_attempt(ctx, StepStatus.RETRYING, started, error=error, wait=wait)
        if wait > settings.PIPELINE_INLINE_WAIT_SECONDS:
            _release(ctx.run.pk, ctx.token)  # the sweep wakes a worker when it is due
            return Outcome.DEFERRED
        with Heartbeat(ctx.run.pk, ctx.token):
            time.sleep(wait)


def _wait_for_slot(ctx: StepContext) -> bool:
    """Wait for this run's assessment slot; False when it is too far off to hold the worker
    (the slot stays reserved and the run comes back then)."""
    wait = (pacing.slot_for(ctx.run) - timezone.now()).total_seconds()
    if wait > settings.PIPELINE_PACE_MAX_WAIT_SECONDS:
        pacing.reserve_later(ctx.run, timezone.now() + timedelta(seconds=wait))
        _release(ctx.run.pk, ctx.token)
        return False
    if wait > 0:
        with Heartbeat(ctx.run.pk, ctx.token):
            time.sleep(wait)
    return True


def _begin_attempt(ctx: StepContext, step: Step) -> None:
    row, now = ctx.row, timezone.now()
    row.attempts += 1
    row.status = StepStatus.RUNNING
    row.started_at = row.started_at or now
    with transaction.atomic():
        _hold(ctx.run.pk, ctx.token)
        row.save(update_fields=["attempts", "status", "started_at"])
        Run.objects.filter(pk=ctx.run.pk).update(next_attempt_at=None)
        Role.objects.filter(pk=ctx.run.role_id).update(processing_step=step.substate)


def _end_attempt(
    ctx: StepContext, status: str, started: float, *, error: dict | None = None, wait: float | None = None
) -> None:
    row, now = ctx.row, timezone.now()
    row.status, row.error = status, error if status != StepStatus.COMPLETED else None
    if status != StepStatus.RETRYING:
        row.finished_at = now
        row.duration_ms = int((now - row.started_at).total_seconds() * 1000)
    with transaction.atomic():
        _hold(ctx.run.pk, ctx.token)
        row.save(update_fields=["status", "error", "finished_at", "duration_ms"])
        if wait is not None:
            Run.objects.filter(pk=ctx.run.pk).update(next_attempt_at=now + timedelta(seconds=wait))
    logger.info(
        "run %s step %s attempt %s: %s in %.2fs",
        ctx.run.workflow_id,
        row.name,
        row.attempts,
        status,
        time.monotonic() - started,
    )


def _finish(
    run: Run, token: str, status: str, *, error: dict | None = None, rows: dict[str, RunStep] | None = None
) -> None:
    with transaction.atomic():
        role = Role.objects.select_for_update().get(pk=run.role_id)
        _hold(run.pk, token)
        by = run.cancel_requested_by if error is CANCELLED else None
        Run.objects.filter(pk=run.pk).update(
            status=status,
            finished_at=timezone.now(),
            error=error,
            lease_owner="",
            lease_expires_at=None,
            next_attempt_at=None,
        )
        if status == RunStatus.READY:
            _store_assessment(role, rows["ai_assessment"].output)
            role.apply("finish_ready", reason="Assessment stored; visible on the Etter dashboard")
        elif status == RunStatus.DEGRADED:
            _store_assessment(role, rows["ai_assessment"].output)
            role.apply("finish_degraded", reason=error["message"])
        elif error is CANCELLED:
            role.apply("cancel", by=by, reason="cancelled")
        else:
            role.apply("fail", reason=f"{error['step']}: {error['message']}")
        role.save()
    logger.info("run %s ended %s", run.workflow_id, status)


def _store_assessment(role: Role, output: dict) -> None:
    role.ai_automation_score = output.get("ai_automation_score")
    role.assessment = {k: output.get(k) for k in ("ai_automation_score", "tasks", "impact")}
    role.dashboard_url = output.get("dashboard_url") or ""


# --- the sweep ---------------------------------------------------------------------------


def runs_needing_a_worker(now=None):
    """In flight, no live worker, due: runs whose worker died, retries now due, lost messages."""
    return Run.objects.claimable(now or timezone.now())


def expired_leases(now=None):
    now = now or timezone.now()
    return Run.objects.in_flight().filter(~Q(lease_owner=""), lease_expires_at__lt=now)
