"""In a real browser (Debian's headless Chromium driven by Playwright), against the live site
with a real django-q2 cluster: a CSM pushes a demo role from the admin and watches its status
page reach READY, and watches a batch's progress bar fill, without reloading. Screenshots go
to tests/artifacts/."""

import os
import shutil
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from batches.services import batch_push
from onboarding.draup_world import RUN_AI_ASSESSMENT
from onboarding.models import Role
from onboarding.pipeline.steps import step_names

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not shutil.which("chromium") and not os.path.exists(CHROMIUM),
        reason="BROWSER TESTS SKIPPED: no /usr/bin/chromium (apt-get install chromium)",
    ),
]
# Playwright's sync API runs an event loop in this thread; the ORM calls of the test itself
# are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    get_user_model().objects.create_superuser("csm", password="a-long-password-1")
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(30_000)
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", "csm")
    page.fill("#id_password", "a-long-password-1")
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    yield page
    page.close()


def test_a_csm_pushes_a_demo_role_and_watches_it_become_ready(page, live_server, cluster, settings):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {RUN_AI_ASSESSMENT: 2.0}}
    call_command("load_demo")
    cluster()
    role = Role.objects.get(name="Claims Adjuster")

    page.goto(f"{live_server.url}/admin/onboarding/role/?q=Claims+Adjuster")
    page.check(f"input[name=_selected_action][value='{role.pk}']")
    page.select_option("select[name=action]", "push_to_etter")
    page.click("button[name=index]")
    page.wait_for_selector("text=Pushed 1 roles to Etter")

    page.goto(f"{live_server.url}/status/roles/{role.pk}/")
    page.evaluate("window.notReloaded = true")
    page.screenshot(path=str(ARTIFACTS / "role-in-flight.png"), full_page=True)
    page.wait_for_selector(".state-READY", timeout=45_000)
    assert page.evaluate("window.notReloaded") is True  # the page updated itself
    assert page.locator("text=AI automation score").is_visible()
    assert page.locator("progress").get_attribute("value") == str(len(step_names()))
    page.screenshot(path=str(ARTIFACTS / "role-ready.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(ARTIFACTS / "role-ready-phone.png"), full_page=True)


def test_a_batch_pages_progress_bar_moves_without_reloading(page, live_server, cluster, settings):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {RUN_AI_ASSESSMENT: 0.8}}
    call_command("load_demo")
    batch = batch_push(role_ids=list(Role.objects.values_list("pk", flat=True)))
    page.goto(f"{live_server.url}/status/batches/{batch.pk}/")
    page.evaluate("window.notReloaded = true")
    first = float(page.locator("progress").get_attribute("value"))
    assert first == 0.0
    cluster(PIPELINE_RUNS_PER_RUNNER="2")  # two at a time: the bar moves in steps
    page.wait_for_function(
        "() => { const v = Number(document.querySelector('progress').value); return v > 0 && v < 100; }",
        timeout=45_000,
    )
    page.screenshot(path=str(ARTIFACTS / "batch-moving.png"), full_page=True)
    page.wait_for_function("() => Number(document.querySelector('progress').value) === 100", timeout=60_000)
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=str(ARTIFACTS / "batch-done.png"), full_page=True)


def test_a_real_browser_save_leaves_a_ready_role_ready_and_a_jd_edit_shows_its_diff(page, live_server):
    from tests.test_staleness import assessed_role

    role = assessed_role(name="Claims Adjuster", draup_role_name="Claims Specialist")
    edit = f"{live_server.url}/admin/onboarding/role/{role.pk}/change/"
    page.goto(edit)
    page.click("input[name=_save]")  # nothing changed; the browser posts the JD back with CRLF
    page.wait_for_selector("text=was changed successfully")
    assert Role.objects.get(pk=role.pk).state == "READY"
    page.goto(edit)
    jd = page.locator("textarea[name='documents-0-content']")
    jd.fill(jd.input_value() + "\n- Writes <b>reports</b>")
    page.fill("input[name=draup_role_name]", "Claims Manager")
    page.click("input[name=_save]")
    page.wait_for_selector("text=was changed successfully")
    assert Role.objects.get(pk=role.pk).state == "STALE"
    page.goto(f"{live_server.url}/status/roles/{role.pk}/")
    assert page.locator(".diff-add", has_text="+- Writes <b>reports</b>").is_visible()  # as text
    assert page.locator("ins", has_text="Claims Manager").is_visible()
    assert page.locator("text=out of date").is_visible()
    assert page.locator("text=Review claim files").is_visible()
    page.screenshot(path=str(ARTIFACTS / "role-stale-changes.png"), full_page=True)
    page.goto(edit)
    assert page.locator(".input-changes ins", has_text="Claims Manager").is_visible()
    page.locator(".input-changes").screenshot(path=str(ARTIFACTS / "admin-role-stale-changes.png"))


def test_the_run_timeline_and_the_batch_steps_are_drawn_in_the_browser(
    page, live_server, simulator, work, settings
):
    """Issue 11: a degraded role's timeline (three enhancements side by side, a failure in red)
    and its batch's progress per step, as a CSM sees them."""
    from onboarding import contract
    from tests.factories import ready_role

    parallel = [contract.TOP_TASKS, contract.SKILLS_MINER, contract.TASK_FEASIBILITY]
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": dict.fromkeys(parallel, 0.5)}
    simulator.fault(contract.SKILLS_MINER, "400")
    first = ready_role(name="Claims Adjuster")
    batch = batch_push(role_ids=[first.pk, ready_role(name="Underwriter", company=first.company).pk])
    work()
    role = Role.objects.get(company=first.company, state="DEGRADED")  # whichever met the fault
    page.goto(f"{live_server.url}/status/roles/{role.pk}/")
    timeline = page.locator("figure.run-timeline svg")
    assert timeline.is_visible()
    assert page.locator("figure.run-timeline g.lane").count() == len(step_names())
    assert page.locator("figure.run-timeline rect.bar-failed").count() == 1
    boxes = [page.locator(f"g[data-step={name}] rect.bar").bounding_box() for name in parallel]
    assert max(b["x"] for b in boxes) < min(b["x"] + b["width"] for b in boxes)  # side by side in time
    assert page.locator("text=Missing sections").is_visible()
    page.screenshot(path=str(ARTIFACTS / "role-timeline-degraded.png"), full_page=True)
    page.goto(f"{live_server.url}/status/batches/{batch.pk}/")
    assert page.locator("svg.step-progress g[data-step]").count() == len(step_names())
    assert page.locator("svg.step-progress rect.seg-failed").count() == 1
    page.screenshot(path=str(ARTIFACTS / "batch-progress-per-step.png"), full_page=True)
