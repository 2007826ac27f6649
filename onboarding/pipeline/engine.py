"""Works on one claimed run, on one of a runner's threads, until it ends or has to wait.

The database is the source of truth; a queue message only says "there is work". Steps that
completed are never called again for that run, and every attempt of a call carries the same
Idempotency-Key, so a call cut off mid-way is answered once by draup-world. Attempts are
counted per call: role setup's two calls each get the contract's attempts. The thread holds a
database connection only while it writes, never while it waits on draup-world.

Steps form a graph (steps.py): a step starts as soon as every step it needs completed, and
steps that are ready together run side by side, each on a thread of its own with its own
StepContext, all under the run's one lease. An optional step that fails for good skips the
steps that need it; its siblings carry on, and the run ends DEGRADED.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from onboarding.draup_world import CallContext, DraupWorldError
from onboarding.models import LeaseLost, Role, Run, RunAttempt, RunStatus, RunStep, StepStatus
from onboarding.models.run_lifecycle import discard_attempt

from . import pacing
from .steps import CRITICAL, STEPS, Step, label

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
    """A step waits long (a retry wait, a far assessment slot): once no other step of the run is
    running, the run is released until the earliest such time and taken again then."""

    def __init__(self, until: datetime, assessment_slot: datetime | None = None):
        super().__init__(f"until {until}")
        self.until, self.assessment_slot = until, assessment_slot


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
    # Shared by the steps of the run running side by side: taking the run's reserved slot.
    lock: threading.Lock = field(default_factory=threading.Lock)

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
            raise Deferred(retry_at)
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
        with self.lock:  # one reserved slot, taken by one of the run's paced steps
            slot, self.run.assessment_slot_at = self.run.assessment_slot_at, None
        slot = slot or pacing.next_slot()
        wait = (slot - timezone.now()).total_seconds()
        if wait > settings.PIPELINE_PACE_MAX_WAIT_SECONDS:
            raise Deferred(slot, assessment_slot=slot)
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
    Schedule(run, rows, holding, counts).work()


Outcome = tuple[str, str, object]  # (step name, "completed" | "failed" | "deferred" | "abort", detail)


class Schedule:
    """The steps of one run: which ran, which may start, which must be skipped. Only the
    thread that called work() writes through it; step threads report on `results`."""

    def __init__(self, run: Run, rows: dict[str, RunStep], holding: Holding, counts: Counter):
        self.run, self.rows, self.holding, self.counts = run, rows, holding, counts
        # The run's steps are the ones it has rows for: a push with skip_enhancement_workflows
        # (and a run made before the enhancements existed) has only the critical path.
        self.steps = [s for s in STEPS if s.name in rows]
        by_status = lambda status: {n for n, r in rows.items() if r.status == status}  # noqa: E731
        self.done = by_status(StepStatus.COMPLETED)
        # Failed or skipped earlier in this round (the run waited for another step since).
        self.failed = {n: rows[n].error or {} for n in by_status(StepStatus.FAILED)}
        self.skipped = by_status(StepStatus.SKIPPED)
        self.started: set[str] = set()
        self.running: dict[str, threading.Thread] = {}
        self.results: queue.Queue[Outcome] = queue.Queue()
        self.deferred: list[Deferred] = []
        self.fatal: dict | None = None  # a step of the critical path failed: the run fails
        self.abort: BaseException | None = None  # the lease or the database went away
        self.lock = threading.Lock()

    def work(self) -> None:
        while True:
            if self.abort is None and self.fatal is None:
                self._start_ready()
            if not self.running:
                break
            # Its branches work on their own threads: give the pooled connection back while
            # waiting for them, or a few hundred waiting runs would hold the whole pool.
            connection.close()
            self._collect(self.results.get())
        if self.abort is not None:
            raise self.abort
        token = self.holding.token
        if self.fatal is not None:
            return self.run.finish(token, RunStatus.FAILED, error=self.fatal)
        if self.deferred:
            until = min(d.until for d in self.deferred)
            slots = [d.assessment_slot for d in self.deferred if d.assessment_slot]
            return self.run.defer(token, until, assessment_slot=min(slots) if slots else None)
        self._finish()

    def _start_ready(self) -> None:
        """Skip what can no longer run, then start every step whose parents all completed: on
        this thread when it is the only one, else each on a thread of its own."""
        waiting = [s for s in self.steps if s.name not in self.done | self.started | self.skipped]
        waiting = [s for s in waiting if s.name not in self.failed]
        for step in waiting:  # parents first: a chain is skipped in one pass
            lost = [p for p in step.needs if p in self.failed or p in self.skipped or p not in self.rows]
            if lost:
                self._skip(step, lost[0])
        ready = [s for s in waiting if s.name not in self.skipped and set(s.needs) <= self.done]
        for step in ready:
            self.started.add(step.name)
            ctx = StepContext(
                self.run, self.rows[step.name], self.rows, step, self.holding, self.counts, self.lock
            )
            if len(ready) == 1 and not self.running:
                self.results.put(_outcome(ctx))
                self.running[step.name] = threading.current_thread()
                continue
            thread = threading.Thread(
                target=_branch, args=(ctx, self.results), name=f"run-{self.run.pk}-{step.name}"
            )
            self.running[step.name] = thread
            thread.start()

    def _collect(self, outcome: Outcome) -> None:
        name, kind, detail = outcome
        thread = self.running.pop(name)
        if thread is not threading.current_thread():
            thread.join()
        step = next(s for s in self.steps if s.name == name)
        if kind == "completed":
            self.done.add(name)
        elif kind == "deferred" and isinstance(detail, Deferred):
            self.deferred.append(detail)  # it goes again when the run is taken again
        elif kind == "failed" and isinstance(detail, dict):
            if step.optional:
                self.failed[name] = detail
            else:
                self.fatal = detail
        elif isinstance(detail, BaseException) and (self.abort is None or isinstance(detail, LeaseLost)):
            self.abort = detail
            if isinstance(detail, LeaseLost):
                self.holding.stop.set()  # every other branch stops at its next wait or write

    def _skip(self, step: Step, because: str) -> None:
        why = "failed" if because in self.failed else "was skipped"
        if because not in self.rows:
            why = "is not part of this run"
        error = {
            "error": "SKIPPED",
            "message": f"Not run: it needs {label(because).lower()}, which {why}.",
            "recoverable": True,
            "step": step.name,
            "because": because,
        }
        self.run.step_skipped(self.holding.token, self.rows[step.name], error)
        self.skipped.add(step.name)

    def _finish(self) -> None:
        token = self.holding.token
        self.run.finalizing(token)
        assessment = self.rows[CRITICAL].output if CRITICAL in self.rows else None
        if not (self.failed or self.skipped):
            return self.run.finish(token, RunStatus.READY, assessment=assessment)
        missing = []
        for step in self.steps:  # in the graph's order, what failed and what it took with it
            if step.name in self.failed:
                missing.append(f"{label(step.name)} ({self.failed[step.name].get('message', 'failed')})")
            elif step.name in self.skipped:
                because = (self.rows[step.name].error or {}).get("because", "")
                missing.append(f"{label(step.name)} (not run: it needs {label(because).lower()})")
        first = next(s.name for s in self.steps if s.name in self.failed or s.name in self.skipped)
        error = {
            "error": "OPTIONAL_STEPS_FAILED",
            "recoverable": True,
            "step": first,
            "failed": sorted(self.failed),
            "skipped": sorted(self.skipped),
            "message": "Assessment stored; these sections are missing: " + "; ".join(missing),
        }
        self.run.finish(token, RunStatus.DEGRADED, error=error, assessment=assessment)


def _branch(ctx: StepContext, results: queue.Queue) -> None:
    try:
        results.put(_outcome(ctx))
    finally:
        connection.close()  # this thread's own connection, back to the pool


def _outcome(ctx: StepContext) -> Outcome:
    """Run one step and say how it ended, whatever happens: the scheduler decides what follows."""
    name = ctx.step.name
    try:
        _run_step(ctx)
    except Deferred as deferred:
        return name, "deferred", deferred
    except StepFailed as failed:
        return name, "failed", failed.error
    except BaseException as exc:  # LeaseLost, database trouble, a bug in the scheduler's reach
        return name, "abort", exc
    return name, "completed", None


def _run_step(ctx: StepContext) -> None:
    """Run one step; raise StepFailed with the error that ended it, or Deferred."""
    run, step, token = ctx.run, ctx.step, ctx.holding.token
    if ctx.holding.stop.is_set():  # cancelled or taken over while a sibling step ran
        raise LeaseLost(run.pk)
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
