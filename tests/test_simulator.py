"""The built-in simulator keeps the contract: auth, idempotency, validation, rate limit, JD download."""

import pytest
import requests

from onboarding.models import SimulatorCall

pytestmark = pytest.mark.django_db(transaction=True)
PATH = "/simulator/api/automated_workflows/"


def post(simulator, endpoint, body, key="k1", **headers):
    return requests.post(
        simulator.url + PATH + endpoint, json=body, timeout=10, headers={"Idempotency-Key": key, **headers}
    )


def create(simulator, key="k1"):
    return post(
        simulator,
        "create-company-role",
        {"company_name": "Acme Corporation", "role_name": "Data Scientist", "draup_role": None},
        key,
    )


def test_a_seen_idempotency_key_gets_the_first_answer_again(simulator):
    first, again = create(simulator), create(simulator)
    assert first.json() == again.json() == {"company_role_id": "cr-acme-corporation-data-scientist"}
    assert list(SimulatorCall.objects.values_list("replayed", flat=True)) == [False, True]


def test_a_required_token_is_enforced(simulator, settings):
    settings.SIMULATOR = {**settings.SIMULATOR, "TOKEN": "t0ken"}
    assert create(simulator).status_code == 401
    assert (
        post(
            simulator,
            "create-company-role",
            {"company_name": "A", "role_name": "B"},
            Authorization="Bearer t0ken",
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("endpoint", "body", "status"),
    [
        ("create-company-role", {"company_name": "A"}, 422),
        ("link-job-description", {"company_role_id": "cr-nope", "jd_content": "x"}, 404),
        ("link-job-description", {"company_role_id": "cr-x", "jd_content": "x", "jd_uri": "http://x"}, 422),
        ("run-ai-assessment", {"company_name": "A", "role_name": "B", "company_role_id": "cr-nope"}, 404),
    ],
)
def test_bad_requests_get_the_documented_errors(simulator, endpoint, body, status):
    response = post(simulator, endpoint, body)
    assert response.status_code == status and response.json()["error"]


def test_a_body_that_is_not_json_is_a_400(simulator):
    response = requests.post(simulator.url + PATH + "create-company-role", data=b"{nope", timeout=10)
    assert response.status_code == 400 and response.json()["error"] == "INVALID_JSON"


def test_a_jd_uri_that_cannot_be_downloaded_is_refused(simulator):
    create(simulator)
    response = post(
        simulator,
        "link-job-description",
        {
            "company_role_id": "cr-acme-corporation-data-scientist",
            "jd_uri": simulator.url + "/documents/bad/",
        },
        "k2",
    )
    assert response.status_code == 422 and "download" in response.json()["message"]


@pytest.mark.parametrize("jd", [{"jd_content": 42}, {"jd_content": ["text"]}, {"jd_uri": {"url": "x"}}])
def test_a_jd_that_is_not_text_is_a_422_not_a_500(simulator, jd):
    create(simulator)
    body = {"company_role_id": "cr-acme-corporation-data-scientist", **jd}
    response = post(simulator, "link-job-description", body, "k2")
    assert response.status_code == 422 and response.json()["error"] == "INVALID_REQUEST"


@pytest.mark.parametrize(
    ("endpoint", "given"),
    [
        ("execute-top-tasks", {"tasks": 5}),
        ("execute-top-tasks", {"tasks": ["a task"]}),
        ("build-skills-architecture", {"skills": "many"}),
        ("populate-skills-catalog", {"clusters": "three"}),
        ("generate-reskilling", {"catalog_entries": [1]}),
    ],
)
def test_an_enhancement_input_of_the_wrong_shape_is_a_422_not_a_500(simulator, endpoint, given):
    create(simulator)
    body = {"company_role_id": "cr-acme-corporation-data-scientist", **given}
    response = post(simulator, endpoint, body, "k2")
    assert response.status_code == 422 and response.json()["error"] == "INVALID_REQUEST"


def test_the_assessment_rate_limit_answers_429_with_retry_after(simulator, settings):
    settings.SIMULATOR = {**settings.SIMULATOR, "ASSESSMENTS_PER_MINUTE": 2}
    create(simulator)
    body = {
        "company_name": "Acme Corporation",
        "role_name": "Data Scientist",
        "company_role_id": "cr-acme-corporation-data-scientist",
    }
    statuses = [post(simulator, "run-ai-assessment", body, key=f"a{i}") for i in range(3)]
    assert [r.status_code for r in statuses] == [200, 200, 429]
    assert 1 <= int(statuses[2].headers["Retry-After"]) <= 60


def test_rates_of_failure_come_from_settings_and_the_seed(simulator, settings):
    settings.SIMULATOR = {**settings.SIMULATOR, "RATE_503": 1.0}
    assert create(simulator).status_code == 503


def test_the_simulator_is_off_when_the_setting_is(simulator, settings):
    settings.DRAUP_WORLD_SIMULATOR = False
    assert create(simulator).status_code == 404


def test_a_repeat_while_the_first_call_works_waits_for_its_answer_and_the_work_is_done_once(simulator):
    from concurrent.futures import ThreadPoolExecutor

    from onboarding.models import SimulatorFault

    SimulatorFault.objects.create(endpoint="create_company_role", kind="hang", hang_seconds=1.0)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(create, simulator)
        while not SimulatorCall.objects.filter(status_code=0).exists():
            pass
        again = pool.submit(create, simulator)
        answers = [first.result().json(), again.result().json()]
    assert answers[0] == answers[1]
    assert again.result().headers["Idempotent-Replayed"] == "true"
    assert list(SimulatorCall.objects.order_by("id").values_list("status_code", "replayed")) == [
        (200, False),
        (200, True),
    ]


def test_a_call_its_server_never_finished_does_not_hold_its_key_forever(simulator):
    from datetime import timedelta

    from django.utils import timezone

    stuck = SimulatorCall.objects.create(endpoint="create_company_role", idempotency_key="k1", status_code=0)
    SimulatorCall.objects.filter(pk=stuck.pk).update(created_at=timezone.now() - timedelta(hours=2))
    assert create(simulator).status_code == 200  # not a wait for an answer that never comes
    assert SimulatorCall.objects.get(pk=stuck.pk).status_code == 499
