import os
import signal
import subprocess
import sys
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from onboarding.models import SimulatorCall, SimulatorFault
from onboarding.tasks import pipeline_work
from tests.helpers import ROOT, database_url


class Simulator:
    """The built-in draup-world simulator, served by the live server; the pipeline reaches
    it over real HTTP."""

    def __init__(self, url: str):
        self.url = url

    def calls(self, endpoint: str | None = None, *, status: int | None = None, key: str | None = None) -> int:
        qs = SimulatorCall.objects.all()
        if endpoint:
            qs = qs.filter(endpoint=endpoint)
        if status:
            qs = qs.filter(status_code=status)
        if key:
            qs = qs.filter(idempotency_key=key)
        return qs.count()

    def fault(self, endpoint: str, kind: str, times: int = 1, **kwargs) -> None:
        SimulatorFault.objects.create(endpoint=endpoint, kind=kind, remaining=times, **kwargs)


@pytest.fixture
def liberty():
    from tests.factories import CompanyFactory

    return CompanyFactory(name="Liberty Mutual")


@pytest.fixture
def csm(liberty):
    """A CSM who may push, assigned to Liberty Mutual only."""
    from tests.factories import UserFactory

    user = UserFactory(can_push=True)
    liberty.csms.add(user)
    return user


@pytest.fixture
def api(csm):
    """The API as that CSM calls it, with a token."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=csm).key}")
    return client


@pytest.fixture
def simulator(live_server, settings):
    settings.SITE_URL = live_server.url
    settings.DRAUP_WORLD_BASE_URL = live_server.url + "/simulator"
    return Simulator(live_server.url)


@pytest.fixture
def work():
    """Run a worker's job in this process, as django-q2 would, until nothing is due now: every
    waiting run is taken and worked on its own thread, as a runner does."""

    def drain(run_id=None):
        return pipeline_work(run_id, linger=False)

    return drain


@pytest.fixture
def count_queries():
    def count(fn):
        with CaptureQueriesContext(connection) as ctx:
            fn()
        return len(ctx.captured_queries)

    return count


@pytest.fixture
def cluster(simulator, tmp_path):
    """Start `manage.py qcluster` pointed at the test database and the live simulator."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "etter_site.test_settings",
        "DATABASE_URL": database_url(),
        "SITE_URL": simulator.url,
        "DRAUP_WORLD_BASE_URL": simulator.url + "/simulator",
        "Q_WORKERS": "1",
    }
    started = []

    def start(**extra_env: str) -> subprocess.Popen:
        log = open(tmp_path / f"cluster-{len(started)}.log", "w")
        proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env={**env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        # The test is over: end the whole group at once, so no worker is left holding the DB.
        # (Not SIGTERM to the group: django-q2's sentinel dies of it at once, and the cluster's
        # main process then hangs waiting on it. A graceful stop is SIGTERM to the main process
        # alone, as bin/start and `docker stop` do; the SIGTERM tests send their own.)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(10)
    time.sleep(0.5)  # let PostgreSQL notice the closed connections before the database is dropped
    for log in sorted(tmp_path.glob("cluster-*.log")):
        print(log.name, log.read_text()[-3000:])


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """After the run, end connections that server threads left open, so that the test
    database can be dropped (PostgreSQL refuses while anyone is connected)."""
    yield
    with django_db_blocker.unblock():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )


@pytest.fixture(autouse=True)
def _fresh_status_cache():
    """The per-process status cache (answers by version, the estimate, tokens) starts empty in
    every test, as in a freshly started server."""
    from onboarding import polling

    polling.forget()
    yield
    polling.forget()


@pytest.fixture
def alert_defaults(db):
    """The built-in rules and default SLA (made by a migration; transactional tests flush them)."""
    from operations.defaults import ensure_defaults

    ensure_defaults()
