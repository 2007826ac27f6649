"""Batches in the admin and from the command line."""

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from batches.models import Batch
from batches.services import batch_push
from onboarding.models import RoleState, Run, RunStatus
from tests.factories import RoleFactory, force_state, ready_role

pytestmark = pytest.mark.django_db


def fail(batch):
    runs = list(batch.runs.all())
    Run.objects.filter(pk__in=[r.pk for r in runs]).update(
        status=RunStatus.FAILED,
        error={"error": "SERVER_ERROR", "message": "draup-world had trouble", "step": "role_setup"},
    )
    for run in runs:
        force_state(run.role, RoleState.FAILED)


def test_push_as_a_batch_from_the_role_list(admin_client):
    roles = [ready_role(), ready_role(), RoleFactory()]
    response = admin_client.post(
        reverse("admin:onboarding_role_changelist"),
        {"action": "push_as_batch", "_selected_action": [r.pk for r in roles], "confirmed": "1"},
        follow=True,
    )
    batch = Batch.objects.get()
    assert f"Batch {batch.batch_id}" in response.content.decode().replace("</a>", "").replace(
        f'<a href="{reverse("admin:batches_batch_change", args=[batch.pk])}">', ""
    )
    assert batch.runs.count() == 2 and batch.refusals.count() == 1


def test_the_batch_page_shows_progress_failures_and_retries_them(admin_client):
    batch = batch_push(role_ids=[ready_role().pk, ready_role().pk])
    fail(batch)
    url = reverse("admin:batches_batch_change", args=[batch.pk])
    body = admin_client.get(url).content.decode()
    assert '<progress max="100" value="100.0"' in body and "draup-world had trouble" in body
    response = admin_client.post(reverse("admin:batches_batch_retry_failed", args=[batch.pk]), follow=True)
    assert "Retried 2 failed roles" in response.content.decode()
    assert batch.runs.filter(status=RunStatus.QUEUED).count() == 2


def test_retry_failed_batch_command_touches_only_that_batch():
    first = batch_push(role_ids=[ready_role().pk])
    second = batch_push(role_ids=[ready_role().pk])
    fail(first), fail(second)
    call_command("retry_failed", "--batch", first.batch_id)
    assert first.runs.get().status == RunStatus.QUEUED and second.runs.get().status == RunStatus.FAILED
    with pytest.raises(CommandError, match="No batch"):
        call_command("retry_failed", "--batch", "batch-nope")
