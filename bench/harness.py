"""Shared by the benchmarks: a fresh PostgreSQL database, the site (serving the simulator)
and a django-q2 cluster, each in its own process, as in production."""

import json
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("BENCH_PORT", "8199"))
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/etter_bench")


def production_server_command() -> list[str]:
    """The Dockerfile's CMD, flag for flag, bound to 127.0.0.1:PORT: the benchmarks measure the
    server as production starts it."""
    cmd = next(line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("CMD "))
    args = json.loads(cmd[len("CMD ") :])
    if "--bind" in args:  # gunicorn
        args[args.index("--bind") + 1] = f"127.0.0.1:{PORT}"
    else:  # granian
        args[args.index("--host") + 1], args[args.index("--port") + 1] = "127.0.0.1", str(PORT)
    return [sys.executable, "-m", *args]


def bench_env(**overrides: str) -> dict:
    return {
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
        "PYTHONWARNINGS": "ignore",
        **overrides,
    }


def recreate_database() -> None:
    import psycopg

    name = DB_URL.rsplit("/", 1)[1]
    with psycopg.connect(DB_URL.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@contextmanager
def running_site(env: dict, *, workers: bool = True):
    """Migrate a fresh database, set up Django here, start web (as the Dockerfile does) and,
    unless `workers` is False, a django-q2 cluster; stop them after."""
    os.environ.update(env)
    recreate_database()
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    # As the image build does: DEBUG off serves the collected, hashed static files.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    web = subprocess.Popen(
        production_server_command(),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,  # the access log: written as in production, not shown
        start_new_session=True,  # its own process group: stopping it stops its children too
    )
    procs = [web]
    if workers:
        procs.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        )
    try:
        _wait_for_web(web)
        yield
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):  # a call may still hang in a child
            for proc in procs:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
            for proc in procs:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass


def _wait_for_web(web: subprocess.Popen) -> None:
    import requests

    for _ in range(100):
        if web.poll() is not None:
            raise SystemExit(f"the web server exited ({web.returncode}): is port {PORT} taken?")
        try:
            requests.get(f"http://127.0.0.1:{PORT}/api/v1/pipeline/health", timeout=1)
            time.sleep(1)  # and give the cluster a moment
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("the web server did not start")


def make_roles(company, n: int, prefix: str) -> list[int]:
    from onboarding.models import Role, RoleDocument

    roles = Role.objects.bulk_create(
        [Role(company=company, name=f"{prefix} {i}", draup_role_name="Analyst") for i in range(n)]
    )
    RoleDocument.objects.bulk_create(
        [RoleDocument(role=r, content=f"# {r.name}\nDoes things.", format="text") for r in roles]
    )
    return [r.pk for r in roles]
