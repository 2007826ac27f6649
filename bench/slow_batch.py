"""Benchmark: a batch against a slow, rate-limited draup-world, time compressed.

    .venv/bin/python bench/slow_batch.py [--roles 200] [--latency 20] [--per-minute 120]
                                         [--pace 0.95] [--sqlite] [--faults]
                                         [--assessment-only]

Production shape 30x faster: each assessment takes --latency seconds (minutes in production)
and the simulator allows --per-minute assessments a minute; the pipeline paces itself at
--pace x that. Everything else is the default. The ideal is latency + roles / per-minute:
the rate limit kept busy from the first second. Prints the time as a ratio to the ideal, the
429 answers, and the most assessments in flight at once. --sqlite starts the site as
`./bin/start` does (SQLite, runserver, DEBUG); otherwise production (PostgreSQL, the Dockerfile's server).
--faults adds 20% 503, 10% 429 and 5% timeouts on every call (the READY share is the figure).
The enhancement workflows run too (issue 11): the three LLM-backed ones take --latency and
share the rate limit with the assessment, so a role costs four LLM calls and the ideal is
2 x latency + 4 x roles / per-minute. --assessment-only pushes with skip_enhancement_workflows,
as every push was before them.
"""

import argparse
import time

from harness import Sampler, bench_env, make_roles, running_site


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=200)
    parser.add_argument("--latency", type=float, default=20.0)
    parser.add_argument("--per-minute", type=int, default=120)
    parser.add_argument("--pace", type=float, default=0.95)
    parser.add_argument("--sqlite", action="store_true")
    parser.add_argument("--faults", action="store_true")
    parser.add_argument("--assessment-only", action="store_true")
    args = parser.parse_args()
    llm_calls = 1 if args.assessment_only else 4  # the assessment, and three LLM enhancements
    overrides = {
        "SIMULATOR_LATENCY_ASSESSMENT": str(args.latency),
        **{
            f"SIMULATOR_LATENCY_{step}": str(args.latency)
            for step in ("TOP_TASKS", "SKILLS_MINER", "TASK_FEASIBILITY")
        },
        "SIMULATOR_ASSESSMENTS_PER_MINUTE": str(args.per_minute),
        "PIPELINE_ASSESSMENTS_PER_MINUTE": str(args.per_minute * args.pace),
    }
    if args.faults:
        overrides.update(
            SIMULATOR_RATE_503="0.2",
            SIMULATOR_RATE_429="0.1",
            SIMULATOR_RATE_HANG="0.05",
            SIMULATOR_HANG_SECONDS="12",
            DRAUP_WORLD_CREATE_ROLE_TIMEOUT="10",
            DRAUP_WORLD_LINK_JD_TIMEOUT="10",
            DRAUP_WORLD_ASSESSMENT_TIMEOUT=str(args.latency + 10),
            PIPELINE_RECOVERY_WAIT_SECONDS="4",  # 120 s in production, compressed 30x
        )
    with running_site(bench_env(sqlite=args.sqlite, **overrides)) as procs:
        from batches.selectors import batch_status
        from batches.services import batch_push
        from onboarding.contract import RATE_LIMITED
        from onboarding.models import Company, SimulatorCall

        ids = make_roles(Company.objects.create(name="Bench Corp"), args.roles, "Role")
        with Sampler(procs[-1:]) as sample:
            started = time.monotonic()
            batch = batch_push(role_ids=ids, options={"skip_enhancement_workflows": args.assessment_only})
            print(f"batch of {len(ids)} roles created in {time.monotonic() - started:.2f} s", flush=True)
            while batch_status(batch).in_flight:
                time.sleep(1)
            elapsed = time.monotonic() - started
        counts = batch_status(batch).counts
        assessments = SimulatorCall.objects.filter(endpoint="run_ai_assessment")
        limited = assessments.filter(status_code=429).count()
        llm = SimulatorCall.objects.filter(endpoint__in=RATE_LIMITED)
        depth = 1 if args.assessment_only else 2  # the assessment, then the enhancements beside each other
        ideal = depth * args.latency + llm_calls * args.roles / args.per_minute * 60
        where = "SQLite + runserver (./bin/start defaults)" if args.sqlite else "PostgreSQL + granian"
        print(
            f"{where}: {counts['READY']} READY, {counts['FAILED']} FAILED of {args.roles} in {elapsed:.1f} s"
        )
        print(f"ideal {ideal:.1f} s -> {elapsed / ideal:.2f}x the ideal")
        print(f"assessment calls {assessments.count()}, answered 429: {limited}")
        print(
            f"LLM calls (assessment + enhancements) {llm.filter(status_code=200).count()} answered, "
            f"{llm.filter(status_code=429).count()} answered 429; "
            f"throughput {counts['READY'] / elapsed * 60:.1f} roles READY a minute"
        )
        print(
            f"most assessments in flight at once: {sample.in_flight}; "
            f"workers' RSS peak {sample.rss_mb:.0f} MB"
        )


if __name__ == "__main__":
    main()
