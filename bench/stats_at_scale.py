"""Benchmark: GET stats and a /metrics scrape at 100,000 runs: queries and time.

    flock /tmp/etter-bench.lock .venv/bin/python bench/stats_at_scale.py [--runs 100000]

Fills a fresh PostgreSQL database (BENCH_DATABASE_URL) with finished runs, their steps,
attempts and SLA records in bulk, then times both reads (best of 3).
"""

import argparse
import random
import time
from datetime import timedelta

from events_flood import setup


def fill(n: int) -> None:
    from django.utils import timezone

    from onboarding.models import Company, Role, Run, RunAttempt, RunStep
    from operations.models import SlaRecord

    rng = random.Random(7)
    companies = [Company.objects.create(name=f"Scale {i}") for i in range(20)]
    now = timezone.now()
    for start in range(0, n, 10000):
        size = min(10000, n - start)
        roles = Role.objects.bulk_create(
            [Role(company=companies[i % 20], name=f"R{start + i}", draup_role_name="A") for i in range(size)]
        )
        statuses = ["READY"] * 8 + ["FAILED", "QUEUED"]
        runs = Run.objects.bulk_create(
            [Run(role=r, status=rng.choice(statuses), started_at=now, finished_at=now) for r in roles]
        )
        RunStep.objects.bulk_create(
            [
                RunStep(
                    run=run, name=name, position=p, status="completed", duration_ms=rng.randint(50, 90000)
                )
                for run in runs
                for p, name in enumerate(["role_setup", "ai_assessment"])
            ]
        )
        RunAttempt.objects.bulk_create([attempt(run, now, rng) for run in runs])
        SlaRecord.objects.bulk_create([sla_record(run, now, rng) for run in runs])


def attempt(run, now, rng):
    from onboarding.models import RunAttempt

    error = None if rng.random() < 0.9 else {"error": "TIMEOUT"}
    return RunAttempt(
        run=run, step="ai_assessment", call="run_ai_assessment", number=1, max_attempts=5,
        outcome="succeeded", started_at=now, error=error,
    )  # fmt: skip


def sla_record(run, now, rng):
    from operations.models import SlaRecord

    return SlaRecord(
        run=run, role_id=run.role_id, company_id=run.role.company_id, started_at=now - timedelta(minutes=5),
        target_seconds=900, due_at=now + timedelta(minutes=10), completed_at=now, outcome=run.status,
        actual_seconds=rng.uniform(30, 1200), queue_wait_seconds=rng.uniform(0, 60),
        breached=rng.random() < 0.05,
    )  # fmt: skip


def measure(label: str, fn) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    best = None
    for _ in range(3):
        with CaptureQueriesContext(connection) as ctx:
            started = time.monotonic()
            fn()
            took = time.monotonic() - started
        best = took if best is None else min(best, took)
    print(f"{label}: {len(ctx.captured_queries)} queries, best of 3 {best * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100000)
    args = parser.parse_args()
    setup()
    started = time.monotonic()
    fill(args.runs)
    print(f"filled {args.runs} runs in {time.monotonic() - started:.0f} s")
    from django.db import connection
    from django.utils import timezone
    from prometheus_client import generate_latest
    from prometheus_client.registry import CollectorRegistry

    from operations.metrics import PipelineCollector
    from operations.stats import Window, pipeline_stats

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    window = Window(since=timezone.now() - timedelta(days=1), until=timezone.now() + timedelta(hours=1))
    measure(f"stats over {args.runs} runs", lambda: pipeline_stats(window))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector())
    measure(f"/metrics scrape over {args.runs} runs", lambda: generate_latest(registry))


if __name__ == "__main__":
    main()
