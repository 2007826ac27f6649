"""Bad input is refused cleanly and writes nothing: a 4xx in the API's error shape (an HTML 4xx
on the pages), never a 500, and the same rows before and after. Runs on both databases (NUL is
what PostgreSQL refuses in any text; SQLite stores it)."""

import json

import pytest
from django.http import HttpResponse, HttpResponseServerError
from django.test import RequestFactory
from rest_framework.exceptions import ParseError
from rest_framework.test import APIClient

from batches.models import Batch
from batches.services import batch_push
from etter_site.middleware import RequestGuardMiddleware
from onboarding import services
from onboarding.api.parsers import DepthLimitedJSONParser, json_depth
from onboarding.models import Role, RoleDocument, RoleState, Run, RunStatus
from tests.factories import force_state, ready_role

pytestmark = pytest.mark.django_db
BASE = "/api/v1/pipeline/"


def row_counts() -> dict:
    return {model.__name__: model.objects.count() for model in (Role, RoleDocument, Run, Batch)}


@pytest.fixture
def world(liberty, csm):
    """A ready role, a batch, a queued and a failed run of the CSM's company."""
    ready_role(company=liberty, name="Claims Adjuster")
    batch = batch_push(role_ids=[ready_role(company=liberty).pk], user=csm)
    queued = services.role_push(role=ready_role(company=liberty), user=csm)
    failed = services.role_push(role=ready_role(company=liberty), user=csm)
    Run.objects.filter(pk=failed.pk).update(status=RunStatus.FAILED)
    force_state(failed.role, RoleState.FAILED)
    return {"batch": batch.batch_id, "queued": queued.workflow_id, "failed": failed.workflow_id}


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"] == "application/json"
    detail = response.json()["detail"]
    assert detail["error"] == code and detail["message"] and isinstance(detail["recoverable"], bool)
    return detail


# Every id in an API path, with a NUL: alone, and at the end of a real id.
NUL_PATHS = [
    ("get", "status/{queued}%00"),
    ("get", "status/%00"),
    ("get", "roles/Liberty Mutual%00"),
    ("get", "roles/%00"),
    ("get", "history/Liberty Mutual%00"),
    ("get", "history/%00"),
    ("get", "batch-status/{batch}%00"),
    ("get", "batch-status/%00"),
    ("post", "retry/{failed}%00"),
    ("post", "retry/%00"),
    ("post", "cancel/{queued}%00"),
    ("post", "cancel/%00"),
    ("post", "retry-failed/{batch}%00"),
    ("post", "retry-failed/%00"),
    # ... and in a query parameter
    ("get", "history/Liberty Mutual?status=%00"),
    ("get", "history/Liberty Mutual?page=1%00"),
    ("get", "status/{queued}?x%00=1"),
]


@pytest.mark.parametrize("method,path", NUL_PATHS)
def test_a_nul_anywhere_in_an_api_address_is_a_400_that_writes_nothing(api, world, method, path):
    before = row_counts()
    response = getattr(api, method)(BASE + path.format(**world))
    detail = refused(response, 400, "VALIDATION_ERROR")
    assert "NUL" in detail["message"] and detail["recoverable"] is True
    assert row_counts() == before
    assert Run.objects.get(workflow_id=world["failed"]).status == RunStatus.FAILED  # not retried
    assert Run.objects.get(workflow_id=world["queued"]).status == RunStatus.QUEUED  # not cancelled


@pytest.mark.parametrize(
    "header,value",
    [
        ("HTTP_AUTHORIZATION", "Token ab\x00cd"),
        ("HTTP_IF_NONE_MATCH", 'W/"\x00"'),
        ("HTTP_X_ANYTHING", "\x00"),
    ],
)
def test_a_nul_in_a_header_is_a_400_that_writes_nothing(api, world, header, value):
    before = row_counts()
    client = APIClient() if header == "HTTP_AUTHORIZATION" else api  # api sends its own token
    response = client.post(BASE + "retry/{failed}".format(**world), **{header: value})
    assert "NUL" in refused(response, 400, "VALIDATION_ERROR")["message"]
    assert row_counts() == before
    assert Run.objects.get(workflow_id=world["failed"]).status == RunStatus.FAILED


@pytest.mark.parametrize(
    "path",
    [
        "/status/roles/1%00/",
        "/status/roles/{role}/%00/",
        "/status/roles/{role}/live/?x=%00",
        "/status/batches/1%00/",
        "/status/companies/1%00/roles.csv",
        "/documents/abc%00/",
        "/admin/onboarding/role/?q=%00",
    ],
)
def test_a_nul_in_a_page_address_is_a_400_page_not_a_500(admin_client, world, path):
    role = Role.objects.get(name="Claims Adjuster")
    before = row_counts()
    response = admin_client.get(path.format(role=role.pk))
    assert response.status_code == 400
    assert row_counts() == before


def deep_json(depth: int) -> str:
    return '{"company_id": "Liberty Mutual", "role_name": "X", "options": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.parametrize(
    "call,body",
    [
        ("push", "[" * 100_000 + "]" * 100_000),
        ("push", '{"a":' * 100_000 + "1" + "}" * 100_000),
        ("push", deep_json(100_000)),
        ("push", deep_json(500)),  # deep enough to refuse, not enough to exhaust the decoder
        ("push-batch", '{"roles": ' + "[" * 100_000 + "]" * 100_000 + "}"),
    ],
)
def test_json_nested_too_deep_is_a_400(api, world, call, body):
    before = row_counts()
    detail = refused(api.post(BASE + call, body, content_type="application/json"), 400, "VALIDATION_ERROR")
    assert "nested deeper than 64 levels" in detail["message"]
    assert row_counts() == before


def test_the_depth_limit_is_a_setting_and_counts_exactly(settings):
    settings.API_JSON_MAX_DEPTH = 3
    parser = DepthLimitedJSONParser()

    def parse(text: str):
        import io

        return parser.parse(io.BytesIO(text.encode()), "application/json", {})

    assert parse('{"a": [{"b": 1}]}') == {"a": [{"b": 1}]}  # 3 levels
    with pytest.raises(ParseError, match="deeper than 3 levels"):
        parse('{"a": [{"b": []}]}')
    assert [json_depth(v, stop_after=10) for v in (1, [], {}, [[1], {}], {"a": {"b": [2]}})] == [
        0,
        1,
        1,
        2,
        3,
    ]


def test_a_30_mb_body_is_a_413_in_the_api_shape(api, world):
    before = row_counts()
    body = json.dumps(
        {"company_id": "Liberty Mutual", "role_name": "Big", "documents": [{"content": "a" * 30_000_000}]}
    )
    detail = refused(api.post(BASE + "push", body, content_type="application/json"), 413, "PAYLOAD_TOO_LARGE")
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in detail["message"]
    assert row_counts() == before


@pytest.mark.parametrize("call", ["push", "push-batch", "retry/{failed}", "status/{queued}", "health"])
def test_any_api_call_refuses_a_body_over_the_limit_before_reading_it(api, world, settings, call):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    before = row_counts()
    body = json.dumps({"roles": [{"company_id": "Liberty Mutual", "role_name": f"R{i}"} for i in range(40)]})
    response = api.post(BASE + call.format(**world), body, content_type="application/json")
    refused(response, 413, "PAYLOAD_TOO_LARGE")
    assert row_counts() == before
    assert Run.objects.get(workflow_id=world["failed"]).status == RunStatus.FAILED


def test_a_form_body_with_too_many_fields_is_a_400_in_the_api_shape(api, world, settings):
    settings.DATA_UPLOAD_MAX_NUMBER_FIELDS = 10
    before = row_counts()
    body = "&".join(f"f{i}=x" for i in range(20))
    response = api.post(BASE + "push", body, content_type="application/x-www-form-urlencoded")
    refused(response, 400, "VALIDATION_ERROR")
    assert row_counts() == before


@pytest.mark.parametrize(
    "body",
    [
        {"company_id": "Liberty Mutual\u0000", "role_name": "X", "documents": [{"content": "jd"}]},
        {"company_id": "Liberty Mutual", "role_name": "X\u0000", "documents": [{"content": "jd"}]},
        {"company_id": "Liberty Mutual", "role_name": "X", "documents": [{"content": "j\u0000d"}]},
        {
            "company_id": "Liberty Mutual",
            "role_name": "X",
            "documents": [{"content": "jd", "name": "a\u0000"}],
        },
        {
            "company_id": "Liberty Mutual",
            "role_name": "X",
            "documents": [{"uri": "https://x.example/\u0000"}],
        },
        {
            "company_id": "Liberty Mutual",
            "role_name": "X",
            "draup_role_id": "\u0000",
            "documents": [{"content": "jd"}],
        },
        {"company_id": "Liberty Mutual", "role_name": "X", "draup_role_name": "a\u0000b"},
        {
            "company_id": "Liberty Mutual",
            "role_name": "Claims Adjuster",
            "options": {"force_rerun": "\u0000"},
        },
        {
            "company_id": "Liberty Mutual",
            "role_name": "X",
            "documents": [{"type": "\u0000", "content": "jd"}],
        },
    ],
)
def test_a_nul_inside_a_push_body_is_a_400_that_writes_nothing(api, world, body):
    before = row_counts()
    refused(api.post(BASE + "push", body, format="json"), 400, "VALIDATION_ERROR")
    assert row_counts() == before


def test_a_nul_inside_a_push_batch_body_is_refused_and_writes_nothing(api, world):
    before = row_counts()
    body = {
        "roles": [{"company_id": "Liberty Mutual", "role_name": "A\u0000", "documents": [{"content": "jd"}]}]
    }
    refused(api.post(BASE + "push-batch", body, format="json"), 400, "VALIDATION_ERROR")
    assert row_counts() == before


def test_an_unknown_option_holding_nul_is_dropped_never_stored(api, world):
    """jsonb refuses \\u0000: only the documented options reach the run's JSON column."""
    response = api.post(
        BASE + "push",
        {"company_id": "Liberty Mutual", "role_name": "Claims Adjuster", "options": {"x\u0000": "\u0000"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    options = Run.objects.get(workflow_id=response.json()["workflow_id"]).options
    assert "\u0000" not in json.dumps(options) and "\\u0000" not in json.dumps(options)


@pytest.mark.parametrize(
    "body,content_type",
    [
        ('{"company_id": "Liberty Mutual", "role_name": ', "application/json"),
        ("\xff\xfe not json", "application/json"),
        ('{"company_id": NaN, "role_name": "X"}', "application/json"),
        ("[]", "application/json"),
        ('"just a string"', "application/json"),
        ("<xml/>", "application/xml"),
    ],
)
def test_a_body_that_is_not_a_push_is_a_4xx_that_writes_nothing(api, world, body, content_type):
    before = row_counts()
    response = api.post(BASE + "push", body, content_type=content_type)
    assert 400 <= response.status_code < 500, response.content
    assert set(response.json()["detail"]) >= {"error", "message", "recoverable"}
    assert row_counts() == before


@pytest.mark.parametrize(
    "method,path,status,code",
    [
        ("get", "nothing-here", 404, "NOT_FOUND"),
        ("get", "status/", 404, "NOT_FOUND"),
        ("get", "status/a/b", 404, "NOT_FOUND"),
        ("delete", "status/{queued}", 405, "METHOD_NOT_ALLOWED"),
        ("get", "push", 405, "METHOD_NOT_ALLOWED"),
    ],
)
def test_an_address_or_method_the_api_does_not_have_answers_in_the_api_shape(
    api, world, method, path, status, code
):
    before = row_counts()
    refused(getattr(api, method)(BASE + path.format(**world)), status, code)
    assert row_counts() == before


@pytest.mark.parametrize("debug", [False, True])
def test_an_error_django_answers_under_api_takes_the_api_shape_but_pages_keep_theirs(client, settings, debug):
    settings.DEBUG = debug  # ./bin/start runs with DEBUG on: the API answers the same
    assert client.get("/api/v1/nothing").json()["detail"]["error"] == "NOT_FOUND"
    page = client.get("/status/nothing-here/")
    assert page.status_code == 404 and "json" not in page["Content-Type"]


def test_a_500_under_api_is_answered_in_the_api_shape():
    """Django's error page, when a view crashes, becomes the API's error shape under /api/."""
    crash = RequestGuardMiddleware(lambda request: HttpResponseServerError("<h1>Server Error (500)</h1>"))
    response = crash(RequestFactory().get("/api/v1/pipeline/companies"))
    assert response.status_code == 500 and response["Content-Type"] == "application/json"
    assert b'"error":"INTERNAL_ERROR"' in response.content
    page = RequestGuardMiddleware(lambda request: HttpResponse("<h1>fine</h1>", status=500))
    assert page(RequestFactory().get("/status/")).content == b"<h1>fine</h1>"


def test_with_debug_on_a_crash_under_api_keeps_djangos_traceback_page(settings):
    settings.DEBUG = True
    crash = RequestGuardMiddleware(lambda request: HttpResponseServerError("<h1>Traceback ...</h1>"))
    assert crash(RequestFactory().get("/api/v1/pipeline/companies")).content == b"<h1>Traceback ...</h1>"
