"""Benchmark: the polled faces under closed-loop pollers, against the production server (the
Dockerfile's server command, DEBUG off, PostgreSQL).

    flock /tmp/etter-bench.lock .venv/bin/python bench/status_latency.py \\
        [--face status|status-304|batch|batch-304|role-live[-304]|batch-live[-304]|all]
        [--pollers 50] [--seconds 15] [--procs 2]

Each poller asks again as soon as it has an answer (closed loop), on its own keep-alive
connection; they run as threads in --procs client processes. Faces:
- status: GET /api/v1/pipeline/status/{id}, 50 runs of one company (one a poller), as a CSM
  with a token; a writer advances the runs (steps start, attempts, complete; version bumped as
  the engine does) while they are polled, and every poller checks that what it sees never goes
  backwards (version, steps completed, attempts).
- status-304: the same, each poller sending If-None-Match with the last ETag it got.
- batch / batch-304: GET batch-status of one 2,500-role batch whose runs keep finishing.
- role-live / batch-live: the status pages' live partials, as a logged-in CSM (session);
  -304: sending If-None-Match, as the pages' fetch() does by itself (the answers are no-cache).
- static: a static file, for calibration: what the clients and the server do at the least.
Prints requests/s, p50/p95/p99, the CPU time a request cost the server and the database (the
figure other work on a shared machine disturbs least) and the answers' status codes.
Goal: >= 600/s, p95 <= 100 ms.
No django-q2 workers run: the writer stands in for them, so the CPU goes to the web server.
"""

import argparse
import http.client
import multiprocessing
import threading
import time
from collections import Counter

from harness import PORT, bench_env, database_cpu_by_process, running_site, tree_cpu_seconds

BATCH_ROLES = 2500
RUNS = 50


def poll(pollers: list[tuple[str, dict]], seconds: float, conditional: bool, check: bool, out) -> None:
    """One client process: a thread per poller (a path and its headers), each in a closed loop."""
    latencies: list[float] = []
    codes: Counter = Counter()
    problems: list[str] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def run(path: str, headers: dict) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
        etag, seen = None, (-1, -1, -1)
        mine, my_codes = [], Counter()
        while time.monotonic() < stop:
            sent = dict(headers)
            if conditional and etag:
                sent["If-None-Match"] = etag
            started = time.monotonic()
            conn.request("GET", path, headers=sent)
            response = conn.getresponse()
            body = response.read()
            mine.append(time.monotonic() - started)
            my_codes[response.status] += 1
            if response.status == 200:
                etag = response.getheader("ETag")
                if check:
                    now = _progress(etag, body)
                    if now < seen:
                        problems.append(f"{path}: went back from {seen} to {now}")
                    seen = now
        with lock:
            latencies.extend(mine)
            codes.update(my_codes)

    threads = [threading.Thread(target=run, args=poller) for poller in pollers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((latencies, dict(codes), problems))


def _progress(etag: str | None, body: bytes) -> tuple[int, int, int]:
    """(version, steps completed, attempts) of a status answer: none of them may go down."""
    import json

    answer = json.loads(body)
    version = int(etag.split(":")[1]) if etag else -1
    steps = answer["progress"]["steps"]
    return version, answer["progress"]["current"], sum(s["attempts"] for s in steps)


def measure(
    label: str, pollers: list[tuple[str, dict]], args, web_pid: int, *, conditional=False, check=False
) -> None:
    out = multiprocessing.get_context("fork").Queue()
    web_cpu, db_before = tree_cpu_seconds(web_pid), database_cpu_by_process()
    chunks = [pollers[i :: args.procs] for i in range(args.procs)]
    procs = [
        multiprocessing.get_context("fork").Process(
            target=poll, args=(chunk, args.seconds, conditional, check, out)
        )
        for chunk in chunks
        if chunk
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    db_cpu = sum(cpu - db_before.get(pid, 0.0) for pid, cpu in database_cpu_by_process().items())
    web_cpu = tree_cpu_seconds(web_pid) - web_cpu
    latencies = sorted(x for r in results for x in r[0])
    codes: Counter = Counter()
    for r in results:
        codes.update(r[1])
    problems = [x for r in results for x in r[2]]

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * q))] * 1000

    print(
        f"{label:<11} {len(pollers)} pollers, {args.seconds:.0f} s: "
        f"{len(latencies) / args.seconds:6.0f} req/s, "
        f"p50 {pct(0.5):5.1f} ms, p95 {pct(0.95):5.1f} ms, p99 {pct(0.99):5.1f} ms; "
        f"CPU a request: server {web_cpu * 1000 / max(1, len(latencies)):.2f} ms, "
        f"database {db_cpu * 1000 / max(1, len(latencies)):.2f} ms; "
        f"answers {dict(sorted(codes.items()))}"
        + (f"; went backwards: {len(problems)} {problems[:3]}" if check else ""),
        flush=True,
    )


class Writer(threading.Thread):
    """Stands in for the workers: moves runs forward, bumping versions as the engine does."""

    def __init__(self, run_ids: list[int], batch_run_ids: list[int]):
        super().__init__(daemon=True)
        self.run_ids, self.batch_run_ids, self.stop = run_ids, batch_run_ids, threading.Event()

    def run(self) -> None:
        from django.db import connection

        tick = 0
        try:
            while not self.stop.wait(0.05):
                tick += 1
                self.advance(self.run_ids[tick % len(self.run_ids)])
                if tick % 20 == 0 and self.batch_run_ids:  # a role of the batch finishes each second
                    self.finish(self.batch_run_ids.pop())
        finally:
            connection.close()

    def advance(self, run_id: int) -> None:
        from django.db import transaction
        from django.db.models import F
        from django.utils import timezone

        from onboarding.models import Run, RunStep

        with transaction.atomic():
            step = (
                RunStep.objects.filter(run_id=run_id).exclude(status="completed").order_by("position").first()
            )
            if step is None:
                return
            now = timezone.now()
            if step.status == "running" and step.attempts >= 2:
                step.status, step.finished_at, step.duration_ms = "completed", now, 1200
            else:
                step.status, step.attempts, step.started_at = (
                    "running",
                    step.attempts + 1,
                    step.started_at or now,
                )
            step.save()
            Run.objects.filter(pk=run_id).update(
                version=F("version") + 1, status="PROCESSING", started_at=now
            )

    def finish(self, run_id: int) -> None:
        from django.db.models import F
        from django.utils import timezone

        from onboarding.models import Run

        Run.objects.filter(pk=run_id).update(
            status="READY", started_at=timezone.now(), finished_at=timezone.now(), version=F("version") + 1
        )


def setup(pollers: int, batch_roles: int = BATCH_ROLES):
    """A CSM per poller, each with a token and a session (as many people polling would be),
    50 runs to poll, and a batch of 2,500 roles."""
    from django.conf import settings
    from django.contrib.auth.models import Permission, User
    from django.contrib.sessions.backends.db import SessionStore
    from harness import make_roles
    from rest_framework.authtoken.models import Token

    from batches.services import batch_push
    from onboarding.models import Company
    from onboarding.services import roles_push

    company = Company.objects.create(name="Bench Corp")
    Company.objects.create(name="Other Corp")
    perms = Permission.objects.filter(codename__in=["push_role", "view_role", "view_batch"])
    tokens, sessions = [], []
    for i in range(pollers):
        csm = User.objects.create_user(f"csm{i}", is_staff=True)
        csm.user_permissions.add(*perms)
        company.csms.add(csm)
        tokens.append(Token.objects.create(user=csm).key)
        session = SessionStore()
        session.update(
            {
                "_auth_user_id": str(csm.pk),
                "_auth_user_backend": settings.AUTHENTICATION_BACKENDS[0],
                "_auth_user_hash": csm.get_session_auth_hash(),
            }
        )
        session.create()
        sessions.append(session.session_key)
    runs = roles_push(role_ids=make_roles(company, RUNS, "Polled")).runs
    batch = batch_push(role_ids=make_roles(company, batch_roles, "Batch"))
    from django.db import connection

    if connection.vendor == "postgresql":
        # What autovacuum does soon after a big write in production: without statistics on the
        # tables just filled, the planner picks plans for empty tables.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {"tokens": tokens, "sessions": sessions, "runs": runs, "batch": batch}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--face", default="all")
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--batch-roles", type=int, default=BATCH_ROLES, help="roles in the polled batch")
    parser.add_argument("--procs", type=int, default=2, help="client processes the pollers are spread over")
    args = parser.parse_args()
    env = bench_env(API_THROTTLE_RATE="100000/min", SESSION_COOKIE_SECURE="0", CSRF_COOKIE_SECURE="0")
    with running_site(env, workers=False) as procs:
        from django.db import connection

        data = setup(args.pollers, args.batch_roles)
        runs, batch = data["runs"], data["batch"]
        api = [{"Authorization": f"Token {token}"} for token in data["tokens"]]
        page = [{"Cookie": f"sessionid={key}"} for key in data["sessions"]]
        batch_runs = list(batch.runs.values_list("pk", flat=True))
        n = range(args.pollers)
        run_of = [runs[i % len(runs)] for i in n]
        status = [(f"/api/v1/pipeline/status/{run_of[i].workflow_id}", api[i]) for i in n]
        batch_api = [(f"/api/v1/pipeline/batch-status/{batch.batch_id}", api[i]) for i in n]
        role_live = [(f"/status/roles/{run_of[i].role_id}/live/", page[i]) for i in n]
        batch_live = [(f"/status/batches/{batch.pk}/live/", page[i]) for i in n]
        faces = {
            # Calibration: a static file (whitenoise), the least a request can cost here.
            "static": ([("/static/etter/poll.js", {}) for _ in n], False, False),
            "status": (status, False, True),
            "status-304": (status, True, True),
            "batch": (batch_api, False, False),
            "batch-304": (batch_api, True, False),
            "role-live": (role_live, False, False),
            "role-live-304": (role_live, True, False),
            "batch-live": (batch_live, False, False),
            "batch-live-304": (batch_live, True, False),
        }
        connection.close()  # the client processes are forked: they must not share it
        writer = Writer([r.pk for r in runs], batch_runs)
        writer.start()
        for name, (pollers, conditional, check) in faces.items():
            if args.face in ("all", name):
                measure(name, pollers, args, procs[0].pid, conditional=conditional, check=check)
        writer.stop.set()
        writer.join()


if __name__ == "__main__":
    main()
