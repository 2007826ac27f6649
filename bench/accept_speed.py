"""Benchmark: how long a person waits for 2,500 roles to be accepted, from a client, against the
production server (the Dockerfile's server command, DEBUG off, PostgreSQL).

    flock /tmp/etter-bench.lock .venv/bin/python bench/accept_speed.py [--roles 2500] [--repeat 3]

Times, each over HTTP and including the request's parsing and validation:
1. POST push-batch with N new roles, each with an inline JD and a Draup role name;
2. POST push-batch with N existing (DRAFT) roles, each with a new inline JD;
3. the admin action "Push to Etter as a batch" on N selected roles;
4. the admin CSV import of N rows: "Check" (dry run), then "Import".
Goal: each <= 3 s. No workers run: the measurement is the web answer alone.
"""

import argparse
import csv
import io
import re
import statistics
import time

import requests
from harness import PORT, bench_env, make_roles, running_site

BASE = f"http://127.0.0.1:{PORT}"


def timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def push_body(company: str, names: list[str], tag: str) -> dict:
    return {
        "roles": [
            {
                "company_id": company,
                "role_name": name,
                "draup_role_name": "Analyst",
                "documents": [{"type": "job_description", "content": f"# {name}\n{tag}: analyses things."}],
            }
            for name in names
        ]
    }


def post_ok(session: requests.Session, url: str, **kwargs) -> requests.Response:
    response = session.post(url, timeout=120, **kwargs)
    assert response.status_code in (200, 302), (response.status_code, response.text[:500])
    return response


def admin_session(username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{BASE}/admin/login/")
    post_ok(
        session,
        f"{BASE}/admin/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        allow_redirects=False,
    )
    return session


def csrf(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=60).text
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def report(label: str, seconds: list[float], n: int) -> None:
    print(
        f"{label:<52} n={n}: median {statistics.median(seconds):.2f} s, max {max(seconds):.2f} s "
        f"({', '.join(f'{s:.2f}' for s in seconds)})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--roles", type=int, default=2500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.roles
    env = bench_env(API_THROTTLE_RATE="1000000/min", SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0")
    with running_site(env, workers=False):
        from django.contrib.auth.models import User
        from rest_framework.authtoken.models import Token

        from onboarding.models import Company, Role

        User.objects.create_superuser("bench", password="bench-only-password")
        api = requests.Session()
        api.headers["Authorization"] = f"Token {Token.objects.create(user=User.objects.get()).key}"
        admin = admin_session("bench", "bench-only-password")
        results: dict[str, list[float]] = {}
        for r in range(args.repeat):
            new = Company.objects.create(name=f"New {r}").name
            names = [f"Role {i}" for i in range(n)]
            body = push_body(new, names, "first")
            results.setdefault("push-batch, new roles with JDs", []).append(
                timed(lambda b=body: post_ok(api, f"{BASE}/api/v1/pipeline/push-batch", json=b))
            )

            known = Company.objects.create(name=f"Known {r}")
            make_roles(known, n, "Role")
            body = push_body(known.name, [f"Role {i}" for i in range(n)], "second")
            results.setdefault("push-batch, existing roles with new JDs", []).append(
                timed(lambda b=body: post_ok(api, f"{BASE}/api/v1/pipeline/push-batch", json=b))
            )

            ids = make_roles(Company.objects.create(name=f"Admin {r}"), n, "Role")
            url = f"{BASE}/admin/onboarding/role/"
            form = {
                "action": "push_as_batch",
                "_selected_action": [str(pk) for pk in ids],
                "confirmed": "1",  # the second step: the confirmation page was shown
                "csrfmiddlewaretoken": csrf(admin, url),
            }
            results.setdefault("admin action 'Push to Etter as a batch'", []).append(
                timed(lambda f=form, u=url: post_ok(admin, u, data=f, allow_redirects=False))
            )

            company = Company.objects.create(name=f"Csv {r}").name
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(["company", "role_name", "draup_role", "occupation", "job_family", "jd"])
            for i in range(n):
                writer.writerow(
                    [company, f"Role {i}", "Analyst", "Analysts", "Finance", f"# Role {i}\nDoes it."]
                )
            data = out.getvalue().encode()
            url = f"{BASE}/admin/onboarding/role/import-csv/"
            for button, label in (
                ("_check", "CSV import, Check (dry run)"),
                ("_import", "CSV import, Import"),
            ):
                form = {button: "1", "csrfmiddlewaretoken": csrf(admin, url)}
                files = {"csv_file": ("roles.csv", data, "text/csv")}
                results.setdefault(label, []).append(
                    timed(lambda f=form, fl=files, u=url: post_ok(admin, u, data=f, files=fl))
                )
                stored = Role.objects.filter(company__name=company).count()
                assert stored == (n if button == "_import" else 0), (button, stored)
        for label, seconds in results.items():
            report(label, seconds, n)


if __name__ == "__main__":
    main()
