"""The API explorer works on a machine without internet: Swagger UI and ReDoc load from the
site's own static files (drf-spectacular-sidecar). In the real browser, every request that
leaves the site is blocked, and the pages must still render the operations."""

from urllib.parse import urlparse

import pytest

from tests.test_browser import ARTIFACTS, browser, page, pytestmark  # noqa: F401  (shared fixtures)

REDOC_ATTRIBUTION_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


@pytest.mark.parametrize(
    ("path", "rendered"),
    [("/api/docs/", ".swagger-ui .opblock-summary-path"), ("/api/redoc/", "redoc-wrap, .redoc-wrap")],
)
def test_the_api_explorer_renders_with_the_internet_cut_off(page, live_server, path, rendered):  # noqa: F811
    site = urlparse(live_server.url).netloc
    left_the_site = []

    def only_the_site(route):
        if urlparse(route.request.url).netloc in (site, ""):
            route.continue_()
        else:
            left_the_site.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_site)
    page.goto(f"{live_server.url}{path}")
    page.wait_for_selector(rendered, timeout=30_000)
    page.locator("text=Push one role to Etter >> visible=true").first.wait_for()
    # ReDoc's bundle asks for its maker's logo and hides it when it cannot load: the one
    # request allowed to fail. Everything the pages need comes from the site.
    assert [url for url in left_the_site if url != REDOC_ATTRIBUTION_LOGO] == [], left_the_site
    page.screenshot(path=str(ARTIFACTS / f"api-explorer-{path.strip('/').replace('/', '-')}.png"))
