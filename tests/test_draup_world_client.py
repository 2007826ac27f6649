"""The draup-world client against the contract's error table (HTTP patched at the edge)."""

import json
from unittest import mock

import pytest
import requests

from onboarding.draup_world import CallContext, DraupWorldClient, DraupWorldError

CTX = CallContext(idempotency_key="role-onboard-x:create_company_role", trace_id="t1")


def answer(status, body=None, headers=None, text=None):
    response = requests.Response()
    response.status_code = status
    response._content = text.encode() if text is not None else json.dumps(body or {}).encode()
    response.headers.update(headers or {})
    return response


def call(response_or_exc, **client_kwargs):
    client = DraupWorldClient(base_url="http://dw.test", token="s3cret", **client_kwargs)
    side = (
        {"side_effect": response_or_exc}
        if isinstance(response_or_exc, Exception)
        else {"return_value": response_or_exc}
    )
    with mock.patch.object(client.session, "post", **side) as post:
        try:
            return client.create_company_role(CTX, company_name="Acme", role_name="PM", draup_role="X"), post
        except DraupWorldError as err:
            return err, post


def test_it_sends_the_headers_timeouts_and_body_of_the_contract():
    result, post = call(
        answer(200, {"company_role_id": "cr-1"}), connect_timeout=3, read_timeouts={"create_company_role": 42}
    )
    assert result == "cr-1"
    url = post.call_args.args[0]
    kwargs = post.call_args.kwargs
    assert url == "http://dw.test/api/automated_workflows/create-company-role"
    assert kwargs["timeout"] == (3, 42)
    assert kwargs["headers"]["Idempotency-Key"] == CTX.idempotency_key
    assert kwargs["headers"]["X-Trace-Id"] == "t1"
    assert kwargs["json"] == {"company_name": "Acme", "role_name": "PM", "draup_role": "X"}
    client = DraupWorldClient(base_url="http://dw.test", token="s3cret")
    assert client.session.headers["Authorization"] == "Bearer s3cret"


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [
        (400, "INVALID_REQUEST", False),
        (422, "INVALID_REQUEST", False),
        (401, "UNAUTHORIZED", False),
        (403, "UNAUTHORIZED", False),
        (404, "NOT_FOUND", False),
        (409, "CONFLICT", False),
        (429, "RATE_LIMITED", True),
        (500, "SERVER_ERROR", True),
        (502, "SERVER_ERROR", True),
        (503, "SERVER_ERROR", True),
        (504, "SERVER_ERROR", True),
    ],
)
def test_each_answer_of_the_error_table_says_whether_to_retry(status, code, retryable):
    err, _ = call(answer(status, {"error": "X", "message": "the service's words"}))
    assert isinstance(err, DraupWorldError)
    assert (err.code, err.retryable, err.status) == (code, retryable, status)
    if not retryable and status not in (401, 403):
        assert "the service's words" in err.message


def test_a_429_carries_retry_after():
    err, _ = call(answer(429, headers={"Retry-After": "17"}))
    assert err.retry_after == 17.0
    err, _ = call(answer(429, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}))
    assert err.retry_after is None


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (requests.ConnectTimeout(), "TIMEOUT"),
        (requests.ReadTimeout(), "TIMEOUT"),
        (requests.ConnectionError("refused"), "CONNECTION_ERROR"),
    ],
)
def test_network_trouble_is_retryable(exc, code):
    err, _ = call(exc)
    assert err.code == code and err.retryable


@pytest.mark.parametrize(
    "response",
    [
        answer(200, text="<html>oops</html>"),
        answer(200, text="[1, 2]"),
        answer(200, {"id": "cr-1"}),
        answer(200, {"company_role_id": ""}),
    ],
)
def test_a_200_with_a_broken_body_is_not_retried(response):
    err, _ = call(response)
    assert err.code == "BAD_RESPONSE" and not err.retryable


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        ({"tasks": [], "impact": {}}, "ai_automation_score"),
        ({"ai_automation_score": 101, "tasks": [], "impact": {}}, "ai_automation_score"),
        ({"ai_automation_score": 50, "tasks": "many", "impact": {}}, "tasks"),
        ({"ai_automation_score": 50, "tasks": [], "impact": None}, "impact"),
        ({"ai_automation_score": 50, "tasks": [], "impact": {}, "dashboard_url": 3}, "dashboard_url"),
    ],
)
def test_an_assessment_without_its_documented_fields_fails_saying_what_is_missing(body, missing):
    client = DraupWorldClient(base_url="http://dw.test")
    with mock.patch.object(client.session, "post", return_value=answer(200, body)):
        with pytest.raises(DraupWorldError, match=missing) as err:
            client.run_ai_assessment(CTX, company_name="A", role_name="B", company_role_id="cr")
    assert not err.value.retryable


def test_link_requires_jd_linked_true():
    client = DraupWorldClient(base_url="http://dw.test")
    with mock.patch.object(
        client.session, "post", return_value=answer(200, {"jd_linked": False, "jd_id": "j"})
    ):
        with pytest.raises(DraupWorldError, match="jd_linked"):
            client.link_job_description(CTX, company_role_id="cr", jd_content="x", jd_uri=None, metadata={})
