"""Benchmark: push -> READY latency and pipeline throughput, with the simulator at zero latency.

Run by hand (not in the test suite):  .venv/bin/python bench/pipeline_throughput.py [--roles 1000]

It uses a fresh PostgreSQL database `etter_bench` on 127.0.0.1:5432 (or BENCH_DATABASE_URL),
starts the site (serving the simulator) and a django-q2 cluster as separate processes, then:
1. pushes 20 roles one at a time and reports the median and p95 time from push to READY;
2. pushes --roles roles at once (one bulk push) and reports roles completed per second.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = 8199
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/etter_bench")

ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "etter_site.settings",
    "ETTER_IGNORE_DOTENV": "1",
    "DEBUG": "0",
    "SECRET_KEY": "bench-only",
    "DATABASE_URL": DB_URL,
    "DRAUP_WORLD_SIMULATOR": "1",
    "SITE_URL": f"http://127.0.0.1:{PORT}",
    "SIMULATOR_LATENCY_CREATE_ROLE": "0",
    "SIMULATOR_LATENCY_LINK_JD": "0",
    "SIMULATOR_LATENCY_ASSESSMENT": "0",
    "LOG_LEVEL": "WARNING",
}


def recreate_database() -> None:
    import psycopg

    name = DB_URL.rsplit("/", 1)[1]
    with psycopg.connect(DB_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=int(os.environ.get("Q_WORKERS", 4)))
    args = parser.parse_args()
    ENV["Q_WORKERS"] = str(args.workers)
    os.environ.update(ENV)
    recreate_database()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=ENV, check=True)

    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    from onboarding.models import Company, Role, RoleDocument, RoleState, Run
    from onboarding.services import role_push, roles_push

    web = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "etter_site.wsgi",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            "2",
            "--threads",
            "8",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=ENV,
    )
    workers = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)
        company = Company.objects.create(name="Bench Corp")

        def make_roles(n: int, prefix: str) -> list[int]:
            roles = Role.objects.bulk_create(
                [Role(company=company, name=f"{prefix} {i}", draup_role_name="Analyst") for i in range(n)]
            )
            RoleDocument.objects.bulk_create(
                [RoleDocument(role=r, content=f"# {r.name}\nDoes things.", format="text") for r in roles]
            )
            return [r.pk for r in roles]

        latencies = []
        for pk in make_roles(20, "Single"):
            started = time.monotonic()
            run = role_push(role=Role.objects.get(pk=pk))
            while Run.objects.filter(pk=run.pk, status="READY").count() == 0:
                time.sleep(0.01)
            latencies.append(time.monotonic() - started)
        latencies.sort()
        print(
            f"push -> READY, 20 roles one at a time: median {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {latencies[18] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms"
        )

        ids = make_roles(args.roles, "Bulk")
        started = time.monotonic()
        report = roles_push(role_ids=ids)
        pushed = time.monotonic() - started
        print(f"bulk push of {len(report.runs)} roles: {pushed:.2f} s")
        while True:
            done = Role.objects.filter(pk__in=ids, state__in=[RoleState.READY, RoleState.FAILED]).count()
            if done == len(ids):
                break
            time.sleep(0.5)
        elapsed = time.monotonic() - started
        ready = Role.objects.filter(pk__in=ids, state=RoleState.READY).count()
        print(
            f"{ready} of {len(ids)} READY in {elapsed:.1f} s with {args.workers} workers: "
            f"{len(ids) / elapsed:.1f} roles/s"
        )
    finally:
        workers.terminate()
        web.terminate()
        workers.wait(20)
        web.wait(20)


if __name__ == "__main__":
    main()
