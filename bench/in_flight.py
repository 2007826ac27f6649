"""Benchmark: 1,000 slow runs in flight at once on one machine.

    .venv/bin/python bench/in_flight.py [--roles 1000] [--latency 60] [--companies 5]

Each assessment takes --latency seconds and nothing is rate-limited; the roles belong to
--companies companies (at most PIPELINE_COMPANY_CONCURRENCY, 200, of one company run at once).
One django-q2 cluster with the default settings. Prints the most assessments in flight at
once, the time until all are READY against the ideal (latency + the time to set the roles
up), the workers' peak total RSS and the most PostgreSQL connections they held.
"""

import argparse
import time

from harness import Sampler, bench_env, make_roles, running_site


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=60.0)
    parser.add_argument("--companies", type=int, default=5)
    args = parser.parse_args()
    env = bench_env(SIMULATOR_LATENCY_ASSESSMENT=str(args.latency))
    with running_site(env) as procs:
        from django.conf import settings

        from onboarding.models import Company, Role, RoleState
        from onboarding.services import roles_push

        per = args.roles // args.companies
        ids = []
        for i in range(args.companies):
            ids += make_roles(Company.objects.create(name=f"Bench Corp {i}"), per, "Role")
        with Sampler(procs[-1:]) as sample:
            started = time.monotonic()
            roles_push(role_ids=ids)
            print(f"pushed {len(ids)} roles in {time.monotonic() - started:.2f} s", flush=True)
            while Role.objects.filter(
                pk__in=ids, state__in=[RoleState.QUEUED, RoleState.PROCESSING]
            ).exists():
                time.sleep(1)
            elapsed = time.monotonic() - started
        ready = Role.objects.filter(pk__in=ids, state=RoleState.READY).count()
        capacity = settings.PIPELINE_RUNS_PER_RUNNER * settings.PIPELINE_RUNNERS_PER_CLUSTER
        print(f"{ready} of {len(ids)} READY in {elapsed:.1f} s (assessment {args.latency:g} s)")
        print(f"most assessments in flight at once: {sample.in_flight} (capacity {capacity})")
        print(
            f"workers' RSS peak {sample.rss_mb:.0f} MB; "
            f"most PostgreSQL connections held by workers {sample.connections}"
        )


if __name__ == "__main__":
    main()
