"""Priority: an urgent push is claimed ahead of normal runs pushed within the head start
(PIPELINE_URGENT_HEAD_START_SECONDS), never ahead of a run that has waited longer, so normal
work is not starved; the queue position says so."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from onboarding.models import Run
from onboarding.pipeline.claims import claim_runs
from onboarding.selectors import queue_position
from onboarding.services import roles_push
from tests.factories import ready_role

pytestmark = pytest.mark.django_db
BASE = "/api/v1/pipeline/"


def pushed(company, name, *, priority="normal", minutes_ago=0):
    role = ready_role(company=company, name=name)
    run = roles_push(role_ids=[role.pk], options={"priority": priority}).runs[0]
    then = timezone.now() - timedelta(minutes=minutes_ago)
    shift = run.queue_key - run.queued_at
    Run.objects.filter(pk=run.pk).update(queued_at=then, queue_key=then + shift)
    run.refresh_from_db()
    return run


def test_urgent_goes_ahead_of_recent_normal_runs_but_not_of_long_waiting_ones(liberty):
    old = pushed(liberty, "Waited an hour", minutes_ago=60)
    recent = pushed(liberty, "Pushed 10 minutes ago", minutes_ago=10)
    urgent = pushed(liberty, "Urgent, just now", priority="urgent")
    assert [queue_position(r) for r in (old, urgent, recent)] == [1, 2, 3]
    taken = [claim_runs(token=f"t{i}", limit=1)[0] for i in range(3)]
    assert taken == [old.pk, urgent.pk, recent.pk]


def test_the_api_takes_a_priority_and_refuses_an_unknown_one(api, liberty):
    ready_role(company=liberty, name="Analyst")
    bad = api.post(
        BASE + "push",
        {"company_id": "Liberty Mutual", "role_name": "Analyst", "options": {"priority": "asap"}},
        format="json",
    )
    assert bad.status_code == 400 and bad.json()["detail"]["error"] == "VALIDATION_ERROR"
    assert not Run.objects.exists()
    good = api.post(
        BASE + "push",
        {"company_id": "Liberty Mutual", "role_name": "Analyst", "options": {"priority": "urgent"}},
        format="json",
    )
    assert good.status_code == 200, good.json()
    run = Run.objects.get()
    assert run.priority == "urgent" and run.queue_key < run.queued_at - timedelta(minutes=29)


def test_the_admin_pushes_an_urgent_batch(admin_client, liberty):
    role = ready_role(company=liberty, name="Analyst")
    response = admin_client.post(
        reverse("admin:onboarding_role_changelist"),
        {"action": "push_as_urgent_batch", "_selected_action": [role.pk], "confirmed": "1"},
    )
    assert response.status_code == 302
    assert Run.objects.get().priority == "urgent"
