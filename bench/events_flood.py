"""Benchmark: a flood of events (10,000 roles finishing) against the pipeline's own writes.

    flock /tmp/etter-bench.lock .venv/bin/python bench/events_flood.py [--roles 10000]

1. a bulk push of --roles roles, with the event receiver connected and without: time and queries;
2. --roles roles finish (QUEUED -> PROCESSING -> READY, 10% FAILED needing the CSM) in bulk:
   the events the processor then handles, in chunks, and how fast;
3. a single-role transition (what a worker does per run), alone and while the processor
   drains that backlog in another thread: does the flood slow the pipeline?
Runs in this process against a fresh PostgreSQL database (BENCH_DATABASE_URL).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

from harness import ROOT, bench_env, make_roles, recreate_database


def setup() -> None:
    env = bench_env()
    os.environ.update(env)
    recreate_database(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()


def timed_push(ids: list[int]) -> tuple[float, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from onboarding.services import roles_push

    with CaptureQueriesContext(connection) as ctx:
        started = time.monotonic()
        roles_push(role_ids=ids)
        return time.monotonic() - started, len(ctx.captured_queries)


def finish_in_bulk(ids: list[int]) -> None:
    """Every role starts, then ends READY (or FAILED with an error that needs the CSM)."""
    from django.db import transaction
    from django.utils import timezone

    from onboarding.fsm_log import collected_state_logs
    from onboarding.models import Role, Run

    for start in range(0, len(ids), 2500):
        with transaction.atomic():
            roles = list(Role.objects.filter(pk__in=ids[start : start + 2500]).order_by("pk"))
            failing = {r.pk for i, r in enumerate(roles) if i % 10 == 0}
            runs = Run.objects.filter(role__in=roles)
            runs.exclude(role__in=failing).update(
                status="READY", started_at=timezone.now(), finished_at=timezone.now()
            )
            error = {"error": "INVALID_REQUEST", "message": "refused"}
            runs.filter(role__in=failing).update(status="FAILED", error=error, finished_at=timezone.now())
            with collected_state_logs():
                for role in roles:
                    role.apply("start")
                    role.apply("fail" if role.pk in failing else "finish_ready", reason="bench")
            Role.objects.bulk_update(roles, ["state", "state_reason", "processing_step", "ready_at"])


def single_transitions(ids: list[int]) -> list[float]:
    """What the engine does per run: lock the role, transition, save, in its own transaction."""
    from django.db import transaction

    from onboarding.models import Role

    times = []
    for pk in ids:
        started = time.monotonic()
        with transaction.atomic():
            role = Role.objects.select_for_update().get(pk=pk)
            role.apply("start")
            role.save()
        times.append((time.monotonic() - started) * 1000)
    return times


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=10000)
    args = parser.parse_args()
    setup()
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from onboarding.fsm_log import transitions_recorded
    from onboarding.models import Company
    from operations.models import Event, InboxItem
    from operations.receivers import record_events

    company = Company.objects.create(name="Flood Corp")
    for i in range(2):
        company.csms.add(get_user_model().objects.create(username=f"csm{i}", email=f"csm{i}@example.com"))
    n = args.roles

    # The push: 2,500 roles (a big batch) without, with, and again without the receiver.
    for label, connected in [("without events", False), ("with events", True), ("without events", False)]:
        if not connected:
            transitions_recorded.disconnect(record_events, dispatch_uid="operations-record-events")
        seconds, queries = timed_push(make_roles(company, 2500, f"Push {label} {time.monotonic()}"))
        transitions_recorded.connect(record_events, dispatch_uid="operations-record-events")
        print(f"1. bulk push of 2500 roles {label}: {seconds:.2f} s, {queries} queries")
    Event.objects.update(processed_at=timezone.now())
    ids = make_roles(company, n, "Flood")
    seconds, queries = timed_push(ids)
    print(f"   bulk push of {n} roles with events: {seconds:.2f} s, {queries} queries")
    other = make_roles(company, 300, "Probe")
    timed_push(other)
    Event.objects.filter(role__in=other).update(processed_at=timezone.now())

    finish_in_bulk(ids)
    backlog = Event.objects.filter(processed_at__isnull=True).count()
    print(f"2. {n} roles finished: {backlog} events waiting")

    probe = other[:300]
    alone = single_transitions(probe[:150])
    # The processor runs in its own process, as a django-q2 worker would.
    code = (
        "import time; from operations.services import events_process; t = time.monotonic(); "
        "n = events_process(); print(n, time.monotonic() - t)"
    )
    drain = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        text=True,
    )
    busy = []
    while drain.poll() is None and len(busy) < 150:
        busy += single_transitions(probe[150 + len(busy) : 151 + len(busy)])
    handled, seconds = drain.communicate()[0].strip().splitlines()[-1].split()
    handled, seconds = int(handled), float(seconds)
    print(
        f"   processed {handled} events in {seconds:.1f} s ({handled / seconds:.0f} events/s, "
        "in chunks of 500); "
        f"inbox items made: {InboxItem.objects.count()}"
    )
    print(f"   single transitions measured while it ran: {len(busy)}")
    print(
        f"3. one role transition (the engine's per-run write): alone p50 {statistics.median(alone):.1f} ms "
        f"p95 {pct(alone, 0.95):.1f} ms; during the flood p50 {statistics.median(busy):.1f} ms "
        f"p95 {pct(busy, 0.95):.1f} ms"
    )
    print(f"   events still waiting: {Event.objects.filter(processed_at__isnull=True).count()}")


if __name__ == "__main__":
    main()
