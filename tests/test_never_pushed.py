"""Retry and cancel of a role that was never pushed: it has no run, and the page says so."""

import pytest
from django.urls import reverse

from onboarding.models import Run
from tests.factories import ready_role

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("action", ["retry", "cancel"])
def test_the_status_page_says_a_never_pushed_role_has_nothing_to_retry_or_cancel(
    client, csm, liberty, action
):
    role = ready_role(company=liberty, name="Analyst")
    client.force_login(csm)
    response = client.post(reverse("status-role-action", args=[role.pk, action]), follow=True)
    assert response.status_code == 200
    assert f"Analyst has never been pushed: there is nothing to {action}." in response.content.decode()
    assert not Run.objects.exists()
