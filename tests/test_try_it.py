"""README "Try it", step by step, as a new user meets it: the product started as `./bin/start`
starts it (migrated database, demo data, the printed admin login, web server and a real
django-q2 cluster with bin/start's four workers), then the admin over real HTTP. bin/test runs
it on SQLite (the default setup) as well as on PostgreSQL."""

import html
import re

import pytest
import requests
from django.core.management import call_command
from django_fsm_log.models import StateLog

from batches.models import Batch
from batches.selectors import batch_status
from onboarding.draup_world import CREATE_COMPANY_ROLE, RUN_AI_ASSESSMENT
from onboarding.models import Role, RoleState, Run, RunStatus
from tests.helpers import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

# The simulator's own defaults (etter_site/settings.py), which bin/start runs with.
BIN_START_LATENCY = {"create_company_role": 0.05, "link_job_description": 0.05, "run_ai_assessment": 1.0}
ROLES = "/admin/onboarding/role/"


class Browser:
    """What a browser does with the admin: keeps the session cookie, sends the CSRF token."""

    def __init__(self, base_url: str):
        self.base_url = base_url.replace("//localhost:", "//127.0.0.1:")  # cookies keep to it
        self.http = requests.Session()

    def get(self, path: str) -> str:
        answer = self.http.get(self.base_url + path, timeout=30)
        assert answer.status_code == 200, (path, answer.status_code)
        return answer.text

    def submit(self, path: str, data: dict) -> str:
        """Post a form of the page at `path`, as its submit button would; the page shown after."""
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', self.get(path)).group(1)
        answer = self.http.post(
            self.base_url + path,
            data={**data, "csrfmiddlewaretoken": token},
            headers={"Referer": self.base_url + path},
            timeout=60,
        )
        assert answer.status_code == 200, (path, answer.status_code)
        return answer.text

    def action(self, action: str, roles: list[Role]) -> str:
        """Tick the roles in the role list, choose the action, Go."""
        selected = {"action": action, "index": "0", "_selected_action": [r.pk for r in roles]}
        return self.submit(ROLES, selected)


def text(page: str) -> str:
    """The words a person reads on the page."""
    page = re.sub(r"(?s)<(script|style|head)\b.*?</\1>", " ", page)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def state(role: Role) -> str:
    return Role.objects.get(pk=role.pk).state


def wait_for_state(roles: list[Role], wanted: str) -> None:
    wait_until(lambda: all(state(role) == wanted for role in roles), timeout=90)


@pytest.fixture
def started(live_server, simulator, cluster, settings, capsys):
    """1. `./bin/start`: migrate (the test database is), load the demo data, print an admin
    login, run the site and the workers."""
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": BIN_START_LATENCY}
    # bin/start's .env has DEBUG=1: cookies are not limited to HTTPS (the suite runs DEBUG off).
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    call_command("load_demo")
    capsys.readouterr()
    call_command("ensure_admin")
    username, password = re.search(r"Admin login: (\S+) / (\S+)", capsys.readouterr().out).groups()
    cluster(Q_WORKERS="4", DEBUG="1")
    browser = Browser(live_server.url)
    page = browser.submit("/admin/login/?next=/admin/", {"username": username, "password": password})
    assert "Etter onboarding" in page and ROLES in page  # logged in: Etter onboarding -> Roles
    return browser


def test_the_readme_try_it_holds_on_the_default_setup(started, simulator):
    browser = started
    demo = list(Role.objects.order_by("pk"))
    assert len(demo) == 8 and all(role.state == RoleState.DRAFT for role in demo)
    pushed, kept_for_later = demo[:6], demo[6:]

    # 2. Roles: select the demo roles, Push to Etter, Go.
    page = browser.action("push_to_etter", pushed)
    assert "Pushed 6 roles to Etter." in page

    # 3. Reload: QUEUED -> PROCESSING -> READY, with the role's runs, attempts, history, buttons.
    wait_for_state(pushed, RoleState.READY)
    assert browser.get(ROLES).count(">Ready</span>") == 6
    role = pushed[0]
    assert [(log.source_state, log.state) for log in StateLog.objects.for_(role).order_by("id")] == [
        (RoleState.DRAFT, RoleState.QUEUED),
        (RoleState.QUEUED, RoleState.PROCESSING),
        (RoleState.PROCESSING, RoleState.READY),
    ]
    run = Run.objects.get(role=role)
    page = browser.get(f"{ROLES}{role.pk}/change/")
    assert run.workflow_id in page and "Pushed to Etter" in page  # its run; who pushed, why
    assert "Mark stale" in page  # the one button a READY role has
    page = text(browser.get(f"/status/roles/{role.pk}/"))  # View on site
    assert "role_setup · Completed · 2 attempts" in page and "Every attempt (3)" in page
    assert "attempt 1 of 5: answered" in page and "Pushed to Etter" in page

    # 4. A failure: Simulator faults -> Add (run_ai_assessment, 400), push a role.
    browser.submit(
        "/admin/onboarding/simulatorfault/add/",
        {"endpoint": RUN_AI_ASSESSMENT, "kind": "400", "remaining": "1", "hang_seconds": "0"},
    )
    failing = kept_for_later[0]
    assert "Pushed 1 roles to Etter." in browser.action("push_to_etter", [failing])
    wait_for_state([failing], RoleState.FAILED)
    failed_run = Run.objects.get(role=failing)
    assert failed_run.error and failed_run.error["message"] in browser.get(f"{ROLES}{failing.pk}/change/")

    # Retry failed pushes resumes it at the step that failed: the same run, no second role.
    assert "Retried 1 roles to Etter." in browser.action("retry_failed", [failing])
    wait_for_state([failing], RoleState.READY)
    assert list(Run.objects.filter(role=failing).values_list("workflow_id", flat=True)) == [
        failed_run.workflow_id
    ]
    assert simulator.calls(CREATE_COMPANY_ROLE, key=f"{failed_run.workflow_id}:{CREATE_COMPANY_ROLE}") == 1
    assert simulator.calls(CREATE_COMPANY_ROLE, status=200) == 7  # one per role pushed, ever


def test_a_failed_role_of_a_batch_retried_from_the_admin_is_counted_once(started, simulator):
    """The same failure in a batch (Roles -> Push to Etter as a batch): retried with Retry failed
    pushes, the role resumes its run, which stays in the batch; the batch counts it once."""
    browser = started
    roles = list(Role.objects.order_by("pk")[:3])
    simulator.fault(RUN_AI_ASSESSMENT, "400")
    browser.action("push_as_batch", roles)
    batch = Batch.objects.get()
    wait_until(lambda: batch_status(batch).counts[RunStatus.FAILED] == 1, timeout=90)
    wait_until(lambda: batch_status(batch).counts[RunStatus.READY] == 2, timeout=90)
    failing = Role.objects.get(state=RoleState.FAILED)
    workflow_id = failing.last_run.workflow_id

    assert "Retried 1 roles to Etter." in browser.action("retry_failed", [failing])
    wait_for_state(roles, RoleState.READY)
    status = batch_status(batch)
    assert status.total == 3 and status.counts[RunStatus.READY] == 3 and status.percent_done == 100.0
    assert Run.objects.get(role=failing).workflow_id == workflow_id
    assert simulator.calls(CREATE_COMPANY_ROLE, key=f"{workflow_id}:{CREATE_COMPANY_ROLE}") == 1
