"""Backpressure: a push that would take the queue past PIPELINE_MAX_QUEUED_RUNS is refused
whole, with when to come back (429 and Retry-After in the API, a message in the admin), and
queues nothing."""

import pytest
from django.urls import reverse

from batches.models import Batch
from onboarding.models import Role, RoleState, Run
from tests.factories import ready_role

pytestmark = pytest.mark.django_db
BASE = "/api/v1/pipeline/"


@pytest.fixture
def full_queue(settings, liberty):
    settings.PIPELINE_MAX_QUEUED_RUNS = 3
    roles = [ready_role(company=liberty, name=f"Role {i}") for i in range(5)]
    from onboarding.services import roles_push

    roles_push(role_ids=[r.pk for r in roles[:2]])  # 2 of 3 places taken
    return roles


def test_a_push_past_the_limit_is_refused_with_retry_after(api, full_queue):
    ids = [{"company_id": "Liberty Mutual", "role_name": r.name} for r in full_queue[2:]]
    response = api.post(BASE + "push-batch", {"roles": ids}, format="json")
    assert response.status_code == 429
    detail = response.json()["detail"]
    assert detail["error"] == "QUEUE_FULL" and detail["recoverable"] is True
    assert "2 runs wait and this push adds 3, past the limit of 3" in detail["message"]
    assert int(response["Retry-After"]) == detail["retry_after"] > 0
    assert Run.objects.count() == 2 and Batch.objects.count() == 0
    assert Role.objects.filter(state=RoleState.QUEUED).count() == 2


def test_a_push_that_fits_goes(api, full_queue):
    response = api.post(BASE + "push", {"company_id": "Liberty Mutual", "role_name": "Role 2"}, format="json")
    assert response.status_code == 200, response.json()
    assert Run.objects.count() == 3


@pytest.mark.parametrize("action", ["push_to_etter", "push_as_batch"])
def test_the_admin_says_the_queue_is_full(admin_client, full_queue, action):
    response = admin_client.post(
        reverse("admin:onboarding_role_changelist"),
        {"action": action, "_selected_action": [r.pk for r in full_queue[2:]], "confirmed": "1"},
        follow=True,
    )
    assert response.status_code == 200
    assert "The pipeline&#x27;s queue is full" in response.content.decode()
    assert Run.objects.count() == 2 and Batch.objects.count() == 0
