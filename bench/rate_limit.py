"""Benchmark: a batch against a rate-limited draup-world.

    .venv/bin/python bench/rate_limit.py [--roles 500] [--per-minute 300] [--pace 0.95]

The simulator allows --per-minute assessments a minute; the pipeline paces itself at
--pace x that. Goal: the batch finishes within 1.1x of roles / per-minute, and under 1% of
assessment calls are answered 429. Also prints how long creating the batch took.
"""

import argparse
import time

from harness import bench_env, make_roles, running_site


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=500)
    parser.add_argument("--per-minute", type=int, default=300)
    parser.add_argument("--pace", type=float, default=0.95)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    env = bench_env(
        Q_WORKERS=str(args.workers),
        SIMULATOR_ASSESSMENTS_PER_MINUTE=str(args.per_minute),
        PIPELINE_ASSESSMENTS_PER_MINUTE=str(args.per_minute * args.pace),
    )
    with running_site(env):
        from batches.selectors import batch_status
        from batches.services import batch_push
        from onboarding.models import Company, SimulatorCall

        ids = make_roles(Company.objects.create(name="Bench Corp"), args.roles, "Role")
        started = time.monotonic()
        batch = batch_push(role_ids=ids)
        print(f"batch of {len(ids)} roles created in {time.monotonic() - started:.2f} s")
        while batch_status(batch).in_flight:
            time.sleep(1)
        elapsed = time.monotonic() - started
        status = batch_status(batch)
        calls = SimulatorCall.objects.filter(endpoint="run_ai_assessment")
        limited = calls.filter(status_code=429).count()
        ideal = args.roles / args.per_minute * 60
        print(
            f"{status.counts['READY']} READY, {status.counts['FAILED']} FAILED in {elapsed:.1f} s; "
            f"ideal {ideal:.1f} s -> {elapsed / ideal:.2f}x"
        )
        print(
            f"assessment calls: {calls.count()}, answered 429: {limited} "
            f"({100 * limited / max(1, calls.count()):.2f}%)"
        )


if __name__ == "__main__":
    main()
