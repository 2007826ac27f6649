"""Every time shows in the viewer's time zone: the one they chose in their settings, else the
one their browser reports (a cookie set by static/etter/timezone.js), else the site's."""

import re
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from batches.services import batch_push
from onboarding.models import UserSettings
from tests.factories import ready_role

pytestmark = pytest.mark.django_db


@pytest.fixture
def page_with_a_time(client, csm, liberty):
    role = ready_role(company=liberty, name="Analyst")
    batch = batch_push(role_ids=[role.pk], user=csm)
    batch.__class__.objects.filter(pk=batch.pk).update(created_at=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    client.force_login(csm)
    return reverse("status-batch", args=[batch.pk])


def shown_time(client, url) -> str:
    return re.search(r"2026-01-1\d \d\d:\d\d", client.get(url).content.decode())[0]


def test_the_browsers_zone_is_used_when_the_user_chose_none(client, page_with_a_time):
    assert shown_time(client, page_with_a_time) == "2026-01-15 12:00"  # the site's (UTC)
    client.cookies["etter_tz"] = "Asia/Kolkata"
    assert shown_time(client, page_with_a_time) == "2026-01-15 17:30"


def test_the_users_choice_wins_and_is_kept_for_the_session(client, csm, page_with_a_time):
    client.cookies["etter_tz"] = "Asia/Kolkata"
    response = client.post(reverse("status-settings"), {"time_zone": "America/New_York"}, follow=True)
    assert "Times now show in America/New_York." in response.content.decode()
    assert UserSettings.objects.get(user=csm).time_zone == "America/New_York"
    assert shown_time(client, page_with_a_time) == "2026-01-15 07:00"


def test_a_bad_zone_is_refused_or_ignored(client, page_with_a_time):
    response = client.post(reverse("status-settings"), {"time_zone": "Mars/Olympus"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    client.cookies["etter_tz"] = "Not/AZone\x00"
    assert shown_time(client, page_with_a_time) == "2026-01-15 12:00"


def test_the_choice_is_read_at_login_and_kept_in_the_session(client, csm, page_with_a_time):
    UserSettings.objects.create(user=csm, time_zone="Asia/Tokyo")
    client.logout()
    client.force_login(csm)
    assert shown_time(client, page_with_a_time) == "2026-01-15 21:00"
