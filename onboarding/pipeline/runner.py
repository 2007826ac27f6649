"""A runner: what a django-q2 worker process does while pipeline work exists.

It claims waiting runs in bulk and works each on its own thread, up to
PIPELINE_RUNS_PER_RUNNER at once: a run spends minutes waiting on draup-world, so hundreds of
runs share one process, and each thread borrows a pooled database connection only to write.
One heartbeat renews the leases of every run it holds. It looks for due work twice a second
(new pushes, retries that are due, runs whose worker died), and it stays while anything is in
flight, so a retry starts on time whatever its wait. A cluster starts at most
PIPELINE_RUNNERS_PER_CLUSTER runners; its other workers stay free for other jobs.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from onboarding.models import PipelineRunner, Run

from . import doorbell, engine
from .claims import claim_runs, claimable_exists

logger = logging.getLogger(__name__)
POLL_SECONDS = 0.5  # how often a runner looks for due work: retries start within this of due
LOST_CHECK_SECONDS = 1.0  # how soon a thread waiting on a cancelled run is woken
BITE = 100  # runs claimed at most per look, so that runners starting together share the work
RING_AGAIN_SECONDS = 5.0


def _process_exists(pid: int) -> bool:
    """Alive, not a zombie (a killed worker whose parent died too stays one until reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc (not Linux): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


class Runner:
    def __init__(self, *, linger: bool = True, capacity: int | None = None):
        host = socket.gethostname()[:40]
        self.name = f"{host}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.cluster = f"{host}:{os.getppid()}"
        self.host, self.pid = host, os.getpid()
        self.capacity = capacity or settings.PIPELINE_RUNS_PER_RUNNER
        self.linger = linger
        self.holdings: dict[int, engine.Holding] = {}
        self.threads: dict[int, threading.Thread] = {}
        self.wake = threading.Event()
        self.claims = 0
        self.taken = 0
        self.rang_at = 0.0
        self.stopping = False

    # --- life ------------------------------------------------------------------------

    def serve(self, run_id: int | None = None) -> int:
        """Work until nothing is left in flight (or, without linger, nothing is due now).
        Returns how many runs it took."""
        if not self._register():
            return 0
        terminated = self._catch_sigterm()
        try:
            self._loop(run_id)
        finally:
            for holding in self.holdings.values():  # only when stopping early
                holding.stop.set()
            if self.stopping:
                Run.objects.release({h.token for h in self.holdings.values()})
            PipelineRunner.objects.filter(name=self.name).delete()
            connection.close()
            terminated()
        return self.taken

    def _catch_sigterm(self) -> Callable[[], None]:
        """A cluster stopping (Ctrl-C, a deploy) waits for every worker's task to end: on
        SIGTERM the runner hands its runs back at once, then the process ends as it would
        have. Returns what to call on the way out."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = signal.getsignal(signal.SIGTERM)

        def on_term(signum, frame):
            self.stopping = True
            self.wake.set()

        signal.signal(signal.SIGTERM, on_term)

        def restore() -> None:
            signal.signal(signal.SIGTERM, previous)
            if self.stopping:
                logger.info("runner %s: stopped by SIGTERM, its runs handed back", self.name)
                os.kill(os.getpid(), signal.SIGTERM)

        return restore

    def _register(self) -> bool:
        """Join the cluster's runners, unless it already has as many as it may start."""
        now = timezone.now()
        alive = now - timedelta(seconds=settings.PIPELINE_LEASE_SECONDS)
        PipelineRunner.objects.filter(heartbeat_at__lt=alive - timedelta(hours=1)).delete()
        me = PipelineRunner.objects.create(
            name=self.name,
            cluster=self.cluster,
            host=self.host,
            pid=self.pid,
            capacity=self.capacity,
            heartbeat_at=now,
        )
        self._release_the_dead(alive)
        ahead = PipelineRunner.objects.filter(cluster=self.cluster, heartbeat_at__gte=alive, id__lt=me.pk)
        if ahead.count() >= settings.PIPELINE_RUNNERS_PER_CLUSTER:
            me.delete()
            return False
        return True

    def _release_the_dead(self, alive) -> None:
        """Runners of this machine whose process is gone (killed, or the machine restarted
        the cluster): hand their runs back now rather than when their leases run out."""
        mine = PipelineRunner.objects.filter(host=self.host, heartbeat_at__gte=alive).exclude(name=self.name)
        for name, pid in mine.values_list("name", "pid"):
            if not _process_exists(pid):
                released = Run.objects.release_runner(name)
                PipelineRunner.objects.filter(name=name).delete()
                logger.info("runner %s is gone: %s of its runs handed back", name, released)

    def _loop(self, run_id: int | None) -> None:
        deadline = time.monotonic() + settings.PIPELINE_DRAIN_SECONDS
        self.next_beat = self.next_check = 0.0
        while True:
            try:
                draining, busy = self._tick(run_id, deadline)
            except engine.DATABASE_TROUBLE as exc:  # a restart: wait, then carry on
                logger.warning("runner %s: database trouble (%s), retrying", self.name, exc)
                connection.close()
                time.sleep(1.0)
                continue
            run_id = None
            if not busy:
                break
            self.wake.wait(POLL_SECONDS)
            self.wake.clear()
        if draining and not self.stopping and Run.objects.in_flight().exists():
            doorbell.ring()  # a fresh job takes over; this one ends

    def _tick(self, run_id: int | None, deadline: float) -> tuple[bool, bool]:
        """One look: heartbeat, lost leases, new work. Returns (draining, still busy)."""
        self._reap()
        now = time.monotonic()
        if now >= self.next_check:
            self._check_leases(renew=now >= self.next_beat)
            self.next_check = now + LOST_CHECK_SECONDS
            if now >= self.next_beat:
                self.next_beat = now + settings.PIPELINE_HEARTBEAT_SECONDS
        if self.stopping:
            return True, False
        draining = now >= deadline
        got = 0 if draining else self._claim(run_id)
        return draining, bool(self.holdings or got or self._should_stay(draining))

    def _should_stay(self, draining: bool) -> bool:
        if draining or not self.linger:
            return False
        return Run.objects.in_flight().exists()

    # --- work ------------------------------------------------------------------------

    def _claim(self, run_id: int | None) -> int:
        free = self.capacity - len(self.holdings)
        if free <= 0 or len(self.threads) >= self.capacity * 1.25:
            self._ring_for_help()
            return 0
        self.claims += 1
        token = f"{self.name}:{self.claims}"
        ids = claim_runs(token=token, limit=min(free, BITE), run_id=run_id, working_on=self.threads)
        for pk in ids:
            holding = engine.Holding(run_id=pk, token=token, worker=self.name)
            thread = threading.Thread(target=self._work, args=(holding,), name=f"run-{pk}", daemon=True)
            self.holdings[pk], self.threads[pk] = holding, thread
            thread.start()
        self.taken += len(ids)
        if ids and len(self.holdings) >= self.capacity:
            self._ring_for_help()
        return len(ids)

    def _ring_for_help(self) -> None:
        """Full, and runs still wait: ask another worker (on any machine) to start a runner."""
        if time.monotonic() - self.rang_at < RING_AGAIN_SECONDS or not claimable_exists():
            return
        self.rang_at = time.monotonic()
        doorbell.ring()

    def _work(self, holding: engine.Holding) -> None:
        try:
            engine.advance(holding)
        except Exception:
            logger.exception("run %s: the runner thread failed", holding.run_id)
        finally:
            connection.close()
            self.wake.set()

    def _reap(self) -> None:
        for pk, thread in list(self.threads.items()):
            if not thread.is_alive():
                del self.threads[pk]
                self.holdings.pop(pk, None)

    def _check_leases(self, *, renew: bool) -> None:
        """Renew every held lease in one UPDATE (on the heartbeat), and wake the threads whose
        run was cancelled or taken over, so none of them starts another call."""
        tokens = {h.token for h in self.holdings.values()}
        if tokens and renew:
            Run.objects.renew(tokens)
        if tokens:
            still = set(Run.objects.filter(lease_owner__in=tokens).values_list("pk", flat=True))
            for pk, holding in list(self.holdings.items()):
                if pk not in still and self.threads[pk].is_alive():
                    holding.stop.set()
                    del self.holdings[pk]  # its thread may still wait on a call: it writes nothing
        if renew:
            PipelineRunner.objects.filter(name=self.name).update(
                heartbeat_at=timezone.now(), holding=len(self.holdings)
            )
