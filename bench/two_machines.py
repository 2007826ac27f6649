"""Benchmark: more worker machines, more runs in flight; losing one loses nothing.

    .venv/bin/python bench/two_machines.py [--machines 2] [--roles 200] [--latency 1.9]
                                           [--runs-per-runner 25] [--kill-one]

Each "machine" is its own `qcluster` (2 workers, so 1 runner each) on the Redis broker,
against one PostgreSQL. Runners hold --runs-per-runner runs each, so the batch needs more than
one machine. Prints the most assessments in flight at once and the time; --kill-one SIGKILLs
the first machine halfway, then checks that every role still ends READY and that no company
role was created twice.
"""

import argparse
import os
import signal
import time

from harness import Sampler, bench_env, make_roles, running_site, start_workers, stop

REDIS = "redis://127.0.0.1:6379/7"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--machines", type=int, default=2)
    parser.add_argument("--roles", type=int, default=200)
    parser.add_argument("--latency", type=float, default=1.9)
    parser.add_argument("--runs-per-runner", type=int, default=25)
    parser.add_argument("--kill-one", action="store_true")
    args = parser.parse_args()
    import redis

    redis.Redis.from_url(REDIS).flushdb()
    env = bench_env(
        Q_REDIS_URL=REDIS,
        Q_WORKERS="2",
        PIPELINE_RUNS_PER_RUNNER=str(args.runs_per_runner),
        SIMULATOR_LATENCY_ASSESSMENT=str(args.latency),
        PIPELINE_LEASE_SECONDS="10",
        PIPELINE_HEARTBEAT_SECONDS="2",
    )
    with running_site(env, workers=False):
        machines = [start_workers(env) for _ in range(args.machines)]
        time.sleep(3)
        try:
            run(args, machines)
        finally:
            stop(*machines)


def run(args, machines) -> None:
    from batches.selectors import batch_status
    from batches.services import batch_push
    from onboarding.models import Company, PipelineRunner, SimulatorCall

    ids = make_roles(Company.objects.create(name="Bench Corp"), args.roles, "Role")
    clusters = set()
    with Sampler(machines) as sample:
        started = time.monotonic()
        batch = batch_push(role_ids=ids)
        killed = False
        while batch_status(batch).in_flight:
            clusters |= set(PipelineRunner.objects.values_list("cluster", flat=True))
            if args.kill_one and not killed and batch_status(batch).counts["READY"] >= args.roles // 2:
                os.killpg(machines[0].pid, signal.SIGKILL)
                killed = True
                print(f"killed machine 1 at {time.monotonic() - started:.1f} s", flush=True)
            time.sleep(0.5)
        elapsed = time.monotonic() - started
    counts = batch_status(batch).counts
    creates = SimulatorCall.objects.filter(endpoint="create_company_role", status_code=200, replayed=False)
    capacity = args.runs_per_runner * args.machines
    print(f"{args.machines} machine(s), {len(clusters)} ran a runner; capacity {capacity} runs in flight")
    print(f"{counts['READY']} READY, {counts['FAILED']} FAILED of {args.roles} in {elapsed:.1f} s")
    print(f"most assessments in flight at once: {sample.in_flight}")
    made = creates.count()
    print(f"company roles created: {made} for {args.roles} roles (duplicates: {made - args.roles})")


if __name__ == "__main__":
    main()
