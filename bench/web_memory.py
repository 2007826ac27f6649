"""Benchmark: the web server's memory after big pushes, as production runs it (the Dockerfile's
server command, DEBUG off, PostgreSQL). The server frees most of a request's objects at once,
but a push's roles and runs refer to each other (reference cycles): those wait for Python's
garbage collector, which `WEB_GC_THRESHOLD` makes run less often (etter_site/wsgi.py).

    flock /tmp/etter-bench.lock .venv/bin/python bench/web_memory.py [--pushes 10] [--roles 2500]

Prints the server's RSS (all its processes) before, after each push-batch of new roles, and
at the end. Run it with WEB_GC_THRESHOLD=0 in the environment to compare with Python's
defaults.
"""

import argparse
import os

import requests
from accept_speed import post_ok, push_body
from harness import PORT, _tree_rss_mb, bench_env, running_site

BASE = f"http://127.0.0.1:{PORT}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pushes", type=int, default=10)
    parser.add_argument("--roles", type=int, default=2500)
    args = parser.parse_args()
    env = bench_env(API_THROTTLE_RATE="1000000/min", PIPELINE_MAX_QUEUED_RUNS="0")
    with running_site(env, workers=False) as procs:
        from django.contrib.auth.models import User
        from rest_framework.authtoken.models import Token

        from onboarding.models import Company

        User.objects.create_superuser("bench", password="bench-only-password")
        api = requests.Session()
        api.headers["Authorization"] = f"Token {Token.objects.create(user=User.objects.get()).key}"
        server = procs[0].pid
        threshold = os.environ.get("WEB_GC_THRESHOLD", "50000 (default)")
        print(f"WEB_GC_THRESHOLD={threshold}; server RSS before: {_tree_rss_mb(server):.0f} MB")
        sizes = []
        for i in range(args.pushes):
            company = Company.objects.create(name=f"Memory {i}").name
            names = [f"Role {n}" for n in range(args.roles)]
            post_ok(api, f"{BASE}/api/v1/pipeline/push-batch", json=push_body(company, names, "jd"))
            sizes.append(_tree_rss_mb(server))
        print("after each push: " + ", ".join(f"{mb:.0f}" for mb in sizes) + " MB")
        print(f"most: {max(sizes):.0f} MB; last: {sizes[-1]:.0f} MB")


if __name__ == "__main__":
    main()
