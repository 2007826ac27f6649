"""Shared by the benchmarks: a fresh database, the site, the simulator and a django-q2 cluster,
each in its own process, as in production (or as `./bin/start` runs them, with --sqlite)."""

import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("BENCH_PORT", "8199"))
SIMULATOR_PORT = PORT + 100
DB_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/etter_bench")
# One key for the site and its workers (they check each other's signed links); DEBUG off refuses a
# weak one.
SECRET_KEY = secrets.token_urlsafe(50)
WORKERS_APP = "etter-bench-workers"  # the workers' PostgreSQL sessions carry this name


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


def bench_env(*, sqlite: bool = False, **overrides: str) -> dict:
    """Production settings (DEBUG off, the Dockerfile's server) on PostgreSQL; with `sqlite`, the
    settings `./bin/start` uses (DEBUG on, SQLite, runserver), so its defaults are measured."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "etter_site.settings",
        "ETTER_IGNORE_DOTENV": "1",
        "DEBUG": "1" if sqlite else "0",
        "SECRET_KEY": SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{tempfile.gettempdir()}/etter-bench.sqlite3" if sqlite else DB_URL,
        "DRAUP_WORLD_SIMULATOR": "1",
        "SITE_URL": f"http://127.0.0.1:{PORT}",
        "DRAUP_WORLD_BASE_URL": f"http://127.0.0.1:{PORT if sqlite else SIMULATOR_PORT}/simulator",
        "SIMULATOR_LATENCY_CREATE_ROLE": "0",
        "SIMULATOR_LATENCY_LINK_JD": "0",
        "SIMULATOR_LATENCY_ASSESSMENT": "0",
        "LOG_LEVEL": "WARNING",
        "PYTHONWARNINGS": "ignore",
        **overrides,
    }
    return env


def recreate_database(env: dict) -> None:
    url = env["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        for suffix in ("", "-wal", "-shm"):
            Path(url[len("sqlite:///") :] + suffix).unlink(missing_ok=True)
        return
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def _start(args: list[str], env: dict, **extra) -> subprocess.Popen:
    return subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        start_new_session=True,  # its own process group: stopping it stops its children too
        **extra,
    )


def start_web(env: dict) -> list[subprocess.Popen]:
    """The site as production starts it (the Dockerfile's command) and the simulator on an
    ASGI server, so that it holds a thousand slow calls at once; with SQLite, runserver serves
    both, as `./bin/start` does."""
    if env["DEBUG"] == "1":
        return [_start([sys.executable, "manage.py", "runserver", f"127.0.0.1:{PORT}", "--noreload"], env)]
    web = _start(production_server_command(), env, stdout=subprocess.DEVNULL)  # the access log
    simulator = [
        sys.executable,
        "-m",
        "uvicorn",
        "etter_site.asgi:application",
        "--port",
        str(SIMULATOR_PORT),
    ]
    simulator += ["--workers", "2", "--log-level", "warning", "--no-access-log", "--backlog", "4096"]
    return [web, _start(simulator, {**env, "PGAPPNAME": "etter-bench-simulator"})]


def start_workers(env: dict, **overrides: str) -> subprocess.Popen:
    return _start(
        [sys.executable, "manage.py", "qcluster"],
        {**env, "PGAPPNAME": WORKERS_APP, **overrides},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(*procs: subprocess.Popen) -> None:
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


@contextmanager
def running_site(env: dict, *, workers: bool = True):
    """Migrate a fresh database, set up Django here, start web (and workers); stop them after."""
    os.environ.update(env)
    recreate_database(env)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    # As the image build does: DEBUG off serves the collected, hashed static files.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
    )
    import django

    sys.path.insert(0, str(ROOT))
    django.setup()
    procs = start_web(env)
    if workers:
        procs.append(start_workers(env))
    try:
        _wait_for_web(procs)
        yield procs
    finally:
        stop(*procs)


def _wait_for_web(procs: list[subprocess.Popen]) -> None:
    import requests

    urls = [f"http://127.0.0.1:{PORT}/api/v1/pipeline/health"]
    if len(procs) > 1 and "uvicorn" in " ".join(procs[1].args):
        urls.append(f"http://127.0.0.1:{SIMULATOR_PORT}/api/v1/pipeline/health")
    for url in urls:
        for _ in range(200):
            if any(p.poll() is not None for p in procs):
                raise SystemExit(f"a server exited: is port {PORT} or {SIMULATOR_PORT} taken?")
            try:
                requests.get(url, timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise SystemExit(f"{url} did not answer")
    time.sleep(1)  # and give the cluster a moment


def make_roles(company, n: int, prefix: str) -> list[int]:
    from onboarding.models import Role, RoleDocument

    roles = Role.objects.bulk_create(
        [Role(company=company, name=f"{prefix} {i}", draup_role_name="Analyst") for i in range(n)]
    )
    RoleDocument.objects.bulk_create(
        [RoleDocument(role=r, content=f"# {r.name}\nDoes things.", format="text") for r in roles]
    )
    return [r.pk for r in roles]


class Sampler:
    """Samples, twice a second while a benchmark runs: assessments in flight (calls the
    simulator is working on), the workers' PostgreSQL connections and their total RSS."""

    def __init__(self, workers: list[subprocess.Popen]):
        self.workers = workers
        self.in_flight = self.connections = self.rss_mb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        from django.db import connection

        from onboarding.models import SimulatorCall

        while not self._stop.wait(0.5):
            running = SimulatorCall.objects.filter(endpoint="run_ai_assessment", status_code=0).count()
            self.in_flight = max(self.in_flight, running)
            self.rss_mb = max(self.rss_mb, sum(_tree_rss_mb(p.pid) for p in self.workers))
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", [WORKERS_APP]
                    )
                    self.connections = max(self.connections, cursor.fetchone()[0])
        connection.close()


def _tree_sum(pid: int, measure) -> float:
    """measure(process) summed over a process and its children (0 for one that is gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0.0
    for proc in procs:
        try:
            total += measure(proc)
        except psutil.NoSuchProcess:
            pass
    return total


def _tree_rss_mb(pid: int) -> float:
    return _tree_sum(pid, lambda proc: proc.memory_info().rss) / 2**20


def tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process and its children have used so far."""
    return _tree_sum(pid, lambda proc: sum(proc.cpu_times()[:2]))


def database_cpu_seconds() -> float:
    """CPU time the PostgreSQL backends serving the bench database have used so far (0 on SQLite).
    On a shared machine, CPU per request is the figure other work disturbs least."""
    return sum(database_cpu_by_process().values())


def database_cpu_by_process() -> dict[int, float]:
    """{pid: CPU seconds} of the PostgreSQL processes serving the bench database: a difference
    of two readings is taken per process (one that exited in between would otherwise count
    against the others)."""
    import psutil

    name = " " + DB_URL.rsplit("/", 1)[1] + " "
    found = {}
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if name in " ".join(proc.info["cmdline"] or []) + " ":
                times = proc.cpu_times()
                found[proc.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return found
