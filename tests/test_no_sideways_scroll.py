"""No page scrolls sideways, at 1,280 px or on a phone (390 px): wide tables scroll inside their
own box instead. Measured in the real browser on the admin and status pages of a role that has
run, its batch and its company."""

import pytest
from django.core.management import call_command

from batches.services import batch_push
from onboarding.models import Company, Role
from tests.test_browser import ARTIFACTS, browser, page, pytestmark  # noqa: F401  (shared fixtures)

WIDTHS = [1280, 390]


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_is_wider_than_the_window(page, live_server, width):  # noqa: F811
    call_command("load_demo")
    role = Role.objects.get(name="Claims Adjuster")
    batch = batch_push(role_ids=[role.pk])
    company = Company.objects.get(pk=role.company_id)
    paths = [
        f"/admin/onboarding/role/{role.pk}/change/",
        "/admin/onboarding/role/",
        f"/admin/batches/batch/{batch.pk}/change/",
        "/status/",
        f"/status/roles/{role.pk}/",
        f"/status/batches/{batch.pk}/",
        f"/status/companies/{company.pk}/",
    ]
    page.set_viewport_size({"width": width, "height": 900})
    too_wide = {}
    for path in paths:
        page.goto(f"{live_server.url}{path}")
        scroll = page.evaluate("document.documentElement.scrollWidth")
        if scroll > width:
            too_wide[path] = scroll
            page.screenshot(path=str(ARTIFACTS / f"too-wide-{width}-{path.strip('/').replace('/', '-')}.png"))
    assert too_wide == {}
