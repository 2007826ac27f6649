"""GET status's short way past DRF (onboarding/api/status_lane.py) answers exactly what DRF
answers, and leaves to DRF every request it cannot settle without it."""

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from onboarding import services
from onboarding.api import status_lane
from onboarding.models import Role
from tests.factories import CompanyFactory, UserFactory, ready_role
from tests.test_polling import advance, expected_bytes

BASE = "/api/v1/pipeline/"
pytestmark = pytest.mark.django_db


@pytest.fixture
def lane_calls(monkeypatch):
    """What the lane answered: a response, or None when it left the request to DRF."""
    calls: list = []
    original = status_lane.quick_status

    def spy(view, request, workflow_id):
        calls.append(original(view, request, workflow_id))
        return calls[-1]

    monkeypatch.setattr("onboarding.api.status_lane.quick_status", spy)
    return calls


def through_drf_only(monkeypatch):
    monkeypatch.setattr("onboarding.api.status_lane.quick_status", lambda view, request, workflow_id: None)


def answer_of(response) -> tuple:
    """Status, body and every header (with their values)."""
    return response.status_code, response.content, dict(response.headers)


def test_the_lane_answers_byte_for_byte_and_header_for_header_what_drf_answers(
    api, liberty, lane_calls, monkeypatch
):
    run = services.role_push(role=ready_role(company=liberty))
    advance(run)
    url = BASE + f"status/{run.workflow_id}"
    api.get(url)  # the token is looked up (by DRF) and remembered
    quick = api.get(url)
    etag = quick["ETag"]
    quick_304 = api.get(url, HTTP_IF_NONE_MATCH=etag)
    assert lane_calls[0] is None and lane_calls[1] is not None and lane_calls[2] is not None
    assert quick.content == expected_bytes(run) and quick_304.status_code == 304
    through_drf_only(monkeypatch)
    assert answer_of(api.get(url)) == answer_of(quick)
    assert answer_of(api.get(url, HTTP_IF_NONE_MATCH=etag)) == answer_of(quick_304)


def test_names_with_any_characters_come_out_as_the_renderer_writes_them(api, liberty, lane_calls):
    role = ready_role(company=liberty)
    Role.objects.filter(pk=role.pk).update(name='Ingénieure "données" \u2028 naïve \U0001f680 \\ </script>')
    run = services.role_push(role=Role.objects.get(pk=role.pk))
    url = BASE + f"status/{run.workflow_id}"
    api.get(url)
    response = api.get(url)
    assert lane_calls[-1] is not None
    assert response.content == expected_bytes(run)
    assert b"\\u2028" in response.content  # escaped, as DRF does, so that the answer is valid JavaScript


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("text/html", "text/html; charset=utf-8"),  # the browsable API
        ("application/json; indent=4", "application/json"),
    ],
)
def test_a_client_asking_for_another_rendering_gets_it_from_drf(
    api, liberty, lane_calls, accept, content_type
):
    run = services.role_push(role=ready_role(company=liberty))
    url = BASE + f"status/{run.workflow_id}"
    api.get(url)
    response = api.get(url, HTTP_ACCEPT=accept)
    assert lane_calls[-1] is None
    assert response.status_code == 200 and response["Content-Type"] == content_type
    if "indent" in accept:
        assert b'\n    "workflow_id"' in response.content


def test_refusals_keep_their_documented_shape(api, liberty, csm, lane_calls, settings):
    other = services.role_push(role=ready_role(company=CompanyFactory(name="Other Corp")))
    mine = services.role_push(role=ready_role(company=liberty))
    api.get(BASE + f"status/{mine.workflow_id}")  # the token is remembered now
    missing = api.get(BASE + "status/role-onboard-nope")
    theirs = api.get(BASE + f"status/{other.workflow_id}", HTTP_IF_NONE_MATCH='W/"x"')
    assert missing.status_code == theirs.status_code == 404
    assert missing.json()["detail"]["error"] == theirs.json()["detail"]["error"] == "NOT_FOUND"
    stranger = APIClient()
    stranger.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    refused = stranger.get(BASE + f"status/{mine.workflow_id}")
    assert refused.status_code == 401 and refused.json()["detail"]["error"]
    assert all(call is None for call in lane_calls[1:])


def test_the_lane_counts_against_the_rate_limit_like_drf(api, liberty, lane_calls, monkeypatch):
    from django.core.cache import cache
    from rest_framework.throttling import UserRateThrottle

    run = services.role_push(role=ready_role(company=liberty))
    url = BASE + f"status/{run.workflow_id}"
    monkeypatch.setattr(UserRateThrottle, "THROTTLE_RATES", {"user": "3/min"})
    cache.clear()
    try:
        answers = [api.get(url) for _ in range(4)]
    finally:
        cache.clear()
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert lane_calls[1] is not None and lane_calls[2] is not None and lane_calls[3] is None
    assert answers[3].json()["detail"]["error"] == "RATE_LIMITED" and int(answers[3]["Retry-After"]) > 0


def test_a_superuser_token_takes_the_lane_and_sees_any_company(liberty, lane_calls):
    run = services.role_push(role=ready_role(company=CompanyFactory(name="Other Corp")))
    boss = APIClient()
    token = Token.objects.create(user=UserFactory(is_superuser=True))
    boss.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    url = BASE + f"status/{run.workflow_id}"
    assert boss.get(url).status_code == 200
    assert boss.get(url).json()["workflow_id"] == run.workflow_id and lane_calls[-1] is not None


def test_a_page_viewers_time_zone_does_not_leak_into_other_pollers_answers(api, csm, liberty, client):
    run = services.role_push(role=ready_role(company=liberty))
    client.force_login(csm)
    client.cookies["etter_tz"] = "Asia/Tokyo"  # the browser's zone, as static/etter/timezone.js sets it
    url = BASE + f"status/{run.workflow_id}"
    assert client.get(url).status_code == 200  # the first read of this version, by the viewer
    assert api.get(url).content == expected_bytes(run)  # in the site's zone, as before anyone looked


def test_with_a_session_cookie_beside_the_token_the_answer_is_still_the_whole_ways(
    csm, liberty, client, lane_calls, monkeypatch
):
    run = services.role_push(role=ready_role(company=liberty))
    advance(run)
    client.force_login(csm)  # a logged-in browser's cookie comes along with a script's token
    client.cookies["etter_tz"] = "Europe/Paris"
    token = Token.objects.create(user=csm).key
    url = BASE + f"status/{run.workflow_id}"
    client.get(url, HTTP_AUTHORIZATION=f"Token {token}")
    quick = client.get(url, HTTP_AUTHORIZATION=f"Token {token}")
    assert lane_calls[-1] is not None
    through_drf_only(monkeypatch)
    assert answer_of(client.get(url, HTTP_AUTHORIZATION=f"Token {token}")) == answer_of(quick)
