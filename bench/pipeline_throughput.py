"""Benchmark: push -> READY latency and pipeline throughput, the simulator at zero latency.

    .venv/bin/python bench/pipeline_throughput.py [--roles 1000] [--workers 4]

1. pushes 20 roles one at a time: median and p95 time from push to READY;
2. pushes --roles roles in one bulk push: how long the push takes, and roles READY per second.
Needs PostgreSQL at 127.0.0.1:5432 (or BENCH_DATABASE_URL); recreates the database etter_bench.
"""

import argparse
import statistics
import time

from harness import bench_env, make_roles, running_site


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    with running_site(bench_env(Q_WORKERS=str(args.workers))):
        from onboarding.models import Company, Role, RoleState, Run
        from onboarding.services import role_push, roles_push

        company = Company.objects.create(name="Bench Corp")
        latencies = []
        for pk in make_roles(company, 20, "Single"):
            started = time.monotonic()
            run = role_push(role=Role.objects.get(pk=pk))
            while not Run.objects.filter(pk=run.pk, status="READY").exists():
                time.sleep(0.01)
            latencies.append(time.monotonic() - started)
        latencies.sort()
        print(
            f"push -> READY, 20 roles one at a time: median {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {latencies[18] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
        )

        ids = make_roles(company, args.roles, "Bulk")
        started = time.monotonic()
        report = roles_push(role_ids=ids)
        print(f"bulk push of {len(report.runs)} roles: {time.monotonic() - started:.2f} s")
        while Role.objects.filter(pk__in=ids, state__in=[RoleState.QUEUED, RoleState.PROCESSING]).exists():
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        ready = Role.objects.filter(pk__in=ids, state=RoleState.READY).count()
        print(
            f"{ready} of {len(ids)} READY in {elapsed:.1f} s with {args.workers} workers: "
            f"{len(ids) / elapsed:.1f} roles/s"
        )


if __name__ == "__main__":
    main()
