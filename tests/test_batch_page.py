"""The batch page tells done, failed and refused apart (in the bar and in words), lists the
refused roles with why, and draws roles finished per minute with axes and values on hover."""

import pytest
from django.urls import reverse
from django.utils import timezone

from batches.csv_import import import_roles
from onboarding.models import Run, RunStatus

pytestmark = pytest.mark.django_db
HEADER = "company,role_name,draup_role,occupation,job_family,jd"


def test_a_finished_batch_with_failures_does_not_read_as_simply_done(client, csm, liberty):
    data = "\n".join([HEADER, "Liberty Mutual,A,A,,,jd a", "Liberty Mutual,B,B,,,jd b", "Nobody,C,C,,,jd"])
    batch = import_roles(csv_bytes=data.encode(), dry_run=False, push=True, user=csm).batch
    now = timezone.now()
    a, b = batch.runs.order_by("role__name")
    Run.objects.filter(pk=a.pk).update(status=RunStatus.READY, finished_at=now)
    Run.objects.filter(pk=b.pk).update(status=RunStatus.FAILED, finished_at=now, error={"message": "boom"})
    client.force_login(csm)
    page = client.get(reverse("status-batch", args=[batch.pk])).content.decode()
    assert "100% finished: 1 ready, 1 failed, 1 refused" in page
    assert 'class="outcome outcome-failed"' in page and 'class="outcome outcome-refused"' in page
    assert "<h2>Refused</h2>" in page
    assert "Unknown company &#x27;Nobody&#x27;: it does not exist or is not assigned to you." in page
    assert 'class="axis"' in page and "2 roles finished</title>" in page


def test_step_names_show_in_words_on_the_role_page(client, csm, liberty):
    from onboarding.services import roles_push
    from tests.factories import ready_role

    role = ready_role(company=liberty, name="Analyst")
    roles_push(role_ids=[role.pk])
    client.force_login(csm)
    page = client.get(reverse("status-role", args=[role.pk])).content.decode()
    assert "<strong>Role setup</strong>" in page and "<strong>AI assessment</strong>" in page
    assert "<strong>role_setup</strong>" not in page
