"""Every attempt of every call, as the status API and the role page show it: a CSM reads
"attempt 2 of 3: rate-limited, next at ...", an engineer sees the whole history."""

import pytest

from onboarding import services
from onboarding.draup_world import LINK_JOB_DESCRIPTION, RUN_AI_ASSESSMENT
from tests.factories import ready_role
from tests.helpers import start_thread, wait_until

pytestmark = pytest.mark.django_db(transaction=True)
BASE = "/api/v1/pipeline/"


def test_status_lists_every_attempt_with_what_it_means(api, csm, simulator, work, settings):
    settings.PIPELINE_INLINE_WAIT_SECONDS = 0.1  # the 429's wait releases the run
    simulator.fault(RUN_AI_ASSESSMENT, "429", retry_after=30)
    run = services.role_push(role=ready_role(company=csm.companies.get()))
    work()
    body = api.get(BASE + f"status/{run.workflow_id}").json()
    calls = [(a["call"], a["number"], a["max_attempts"], a["outcome"]) for a in body["attempts"]]
    assert calls == [
        ("create_company_role", 1, 3, "succeeded"),
        ("link_job_description", 1, 3, "succeeded"),
        ("run_ai_assessment", 1, 5, "retrying"),
    ]
    waiting = body["attempts"][-1]
    assert waiting["http_status"] == 429 and waiting["error"]["error"] == "RATE_LIMITED"
    assert waiting["next_attempt_at"] == body["next_attempt_at"]
    assert waiting["summary"].startswith("AI assessment: attempt 1 of 5: rate-limited, next at ")


def test_the_role_page_says_where_each_step_stands(client, csm, simulator, work, settings):
    settings.PIPELINE_INLINE_WAIT_SECONDS = 0.1
    simulator.fault(RUN_AI_ASSESSMENT, "429", retry_after=30)
    run = services.role_push(role=ready_role(company=csm.companies.get()))
    work()
    client.force_login(csm)
    html = client.get(f"/status/roles/{run.role_id}/").content.decode()
    assert "AI assessment: attempt 1 of 5: rate-limited, next at" in html
    assert "Every attempt (3)" in html and "Link the job description" in html


def test_cancel_answers_that_the_call_under_way_is_abandoned(api, csm, simulator, work, settings):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {LINK_JOB_DESCRIPTION: 2.0}}
    run = services.role_push(role=ready_role(company=csm.companies.get()))
    worker = start_thread(work)
    wait_until(lambda: run.attempts.filter(call=LINK_JOB_DESCRIPTION, outcome="running").exists())
    body = api.post(BASE + f"cancel/{run.workflow_id}").json()
    worker.join()
    assert body["status"] == "failed" and body["error"]["error"] == "CANCELLED"
    assert "link job description" in body["message"] and "discarded" in body["message"]
    wait_until(lambda: run.attempts.get(call=LINK_JOB_DESCRIPTION).outcome == "discarded")
    again = api.get(BASE + f"status/{run.workflow_id}").json()
    assert again["attempts"][-1]["summary"].startswith(
        "Link the job description: attempt 1 of 3: answer discarded"
    )
