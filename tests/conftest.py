import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from onboarding.models import SimulatorCall, SimulatorFault
from onboarding.tasks import pipeline_work


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
def simulator(live_server, settings):
    settings.SITE_URL = live_server.url
    settings.DRAUP_WORLD_BASE_URL = live_server.url + "/simulator"
    return Simulator(live_server.url)


@pytest.fixture
def work():
    """Run a worker's job in this process, as django-q2 would: it drains every waiting run."""
    return pipeline_work


@pytest.fixture
def count_queries():
    def count(fn):
        with CaptureQueriesContext(connection) as ctx:
            fn()
        return len(ctx.captured_queries)

    return count
