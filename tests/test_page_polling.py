"""The role page's live partial under many pollers: a 304 costs one query with the session and the
user remembered per process (etter_site/sessions.py, etter_site/auth.py), and what is remembered
stops working within API_AUTH_CACHE_SECONDS (at once when this process made the change)."""

import re
import time

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Permission
from django.contrib.sessions.models import Session
from django.core.cache.backends import locmem
from django.db.models import F
from django.test import Client
from django.urls import reverse

from etter_site.sessions import SessionStore
from onboarding import polling, services
from onboarding.models import Role, Run, RunStatus, RunStep
from tests.factories import CompanyFactory, UserFactory, force_state, ready_role

pytestmark = pytest.mark.django_db
User = get_user_model()


class _Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset


@pytest.fixture
def later(monkeypatch):
    """Moves the per-process cache's clock past API_AUTH_CACHE_SECONDS (no sleeping)."""
    clock = _Clock()
    monkeypatch.setattr(locmem, "time", clock)

    def move() -> None:
        clock.offset += settings.API_AUTH_CACHE_SECONDS + 1

    return move


def live(pk: int) -> str:
    return reverse("status-role-live", args=[pk])


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def with_session(key: str) -> Client:
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = key
    return client


@pytest.fixture
def running(liberty):
    """A role whose run is under way (not waiting: no queue order is read)."""
    run = services.role_push(role=ready_role(company=liberty))
    Run.objects.filter(pk=run.pk).update(status=RunStatus.PROCESSING, version=F("version") + 1)
    return Role.objects.get(pk=run.role_id)


def test_it_answers_a_304_poll_with_one_query(csm, running, django_assert_num_queries):
    client = logged_in(csm)
    etag = client.get(live(running.pk))["ETag"]  # the session and the user are now remembered
    with django_assert_num_queries(1):  # the role with its run, scoped to the CSM's companies
        response = client.get(live(running.pk), HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 304 and response.content == b""


def test_a_200_poll_reads_only_what_the_partial_shows(csm, running, django_assert_num_queries):
    client = logged_in(csm)
    first = client.get(live(running.pk))
    Run.objects.filter(pk=running.last_run_id).update(version=F("version") + 1)  # something to show
    # the ETag's head, the role, its steps, their attempts, the role's tokens, its history
    with django_assert_num_queries(6):
        changed = client.get(live(running.pk))
    # asked again without If-None-Match, nothing changed: the HTML rendered for this ETag
    with django_assert_num_queries(1):
        again = client.get(live(running.pk))
    assert first.status_code == changed.status_code == again.status_code == 200
    assert changed["ETag"] != first["ETag"] and again["ETag"] == changed["ETag"]
    assert without_csrf(again.content) == without_csrf(changed.content)  # each answer masks its token anew


def without_csrf(html: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b"", html)


def test_html_kept_for_a_poller_carries_each_sessions_own_csrf_token(csm, running):
    """The same user in two browsers: the second gets the HTML rendered for the first, with its
    own CSRF token in the forms, and its post is accepted (a shared token would be refused)."""
    logged_in(csm).get(live(running.pk))  # rendered and kept, with the first session's token
    other = Client(enforce_csrf_checks=True)
    other.force_login(csm)
    page = other.get(live(running.pk)).content.decode()
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    action = reverse("status-role-action", args=[running.pk, "cancel"])
    assert other.post(action, {"csrfmiddlewaretoken": token}).status_code == 302
    assert Run.objects.get(pk=running.last_run_id).status != RunStatus.PROCESSING  # cancelled


def test_the_partial_shows_the_runs_tokens_and_the_roles(csm, running):
    RunStep.objects.filter(run_id=running.last_run_id).update(input_tokens=100, output_tokens=7)
    steps = RunStep.objects.filter(run_id=running.last_run_id).count()
    page = logged_in(csm).get(live(running.pk)).content.decode()
    shown = f'<span class="tokens-total">{steps * 107}</span> ({steps * 100} in, {steps * 7} out)'
    assert page.count(shown) == 2  # this run's, and every run's of the role (only this one)


def test_a_logout_in_this_process_ends_the_session_at_once(csm, running):
    client = logged_in(csm)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get(live(running.pk)).status_code == 200
    client.post(reverse("admin:logout"))
    assert with_session(key).get(live(running.pk)).status_code == 302  # to the login page


def test_a_session_deleted_by_another_process_stops_working_within_the_bound(csm, running, later):
    client = logged_in(csm)
    assert client.get(live(running.pk)).status_code == 200
    Session.objects.all().delete()  # another server process's logout
    assert client.get(live(running.pk)).status_code == 200  # remembered here, for a few seconds
    later()
    assert client.get(live(running.pk)).status_code == 302


def test_a_deactivated_user_stops_working_within_the_bound(csm, running, later):
    client = logged_in(csm)
    assert client.get(live(running.pk)).status_code == 200
    User.objects.filter(pk=csm.pk).update(is_active=False)  # saved by another process
    assert client.get(live(running.pk)).status_code == 200
    later()
    assert client.get(live(running.pk)).status_code == 302


def test_a_user_deactivated_in_this_process_is_refused_at_once(csm, running):
    client = logged_in(csm)
    assert client.get(live(running.pk)).status_code == 200
    csm.is_active = False
    csm.save()
    assert client.get(live(running.pk)).status_code == 302


def test_a_removed_permission_takes_effect_within_the_bound(csm, liberty, later):
    role = ready_role(company=liberty)  # a draft: "Push to Etter" for those who may
    client = logged_in(csm)
    first = client.get(live(role.pk))
    assert b"Push to Etter" in first.content
    User.user_permissions.through.objects.filter(user_id=csm.pk).delete()  # by another process
    assert client.get(live(role.pk), HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    later()
    changed = client.get(live(role.pk), HTTP_IF_NONE_MATCH=first["ETag"])
    assert changed.status_code == 200 and b"Push to Etter" not in changed.content


def test_a_password_change_logs_out_the_other_sessions(csm, running):
    mine, other = logged_in(csm), logged_in(csm)
    assert other.get(live(running.pk)).status_code == 200
    new = "A-new-pw-4-tests"
    changed = mine.post(
        reverse("admin:password_change"),
        {"old_password": "pw-for-tests", "new_password1": new, "new_password2": new},
    )
    assert changed.status_code == 302
    assert mine.get(live(running.pk)).status_code == 200  # the session that changed it stays
    assert other.get(live(running.pk)).status_code == 302


def test_a_password_changed_by_another_process_logs_out_within_the_bound(csm, running, later):
    client = logged_in(csm)
    assert client.get(live(running.pk)).status_code == 200
    User.objects.filter(pk=csm.pk).update(password=make_password("A-new-pw-4-tests"))
    assert client.get(live(running.pk)).status_code == 200
    later()
    assert client.get(live(running.pk)).status_code == 302


def test_a_session_newer_than_the_remembered_user_is_not_logged_out(csm, running):
    """Another process changed the password and gave its own session the new hash: here the user
    remembered is older than that session. It is read again, not taken for a stale session."""
    other = logged_in(csm)
    assert other.get(live(running.pk)).status_code == 200  # remembers the user as they were
    User.objects.filter(pk=csm.pk).update(password=make_password("A-new-pw-4-tests"))
    csm.refresh_from_db()
    session = SessionStore()
    session.update(
        {
            "_auth_user_id": str(csm.pk),
            "_auth_user_backend": "etter_site.auth.CachedModelBackend",
            "_auth_user_hash": csm.get_session_auth_hash(),
        }
    )
    session.create()
    assert with_session(session.session_key).get(live(running.pk)).status_code == 200
    assert Session.objects.filter(session_key=session.session_key).exists()


def test_a_session_made_before_the_cached_backend_still_works(csm, running):
    session = SessionStore()
    session.update(
        {
            "_auth_user_id": str(csm.pk),
            "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
            "_auth_user_hash": csm.get_session_auth_hash(),
        }
    )
    session.create()
    client = with_session(session.session_key)
    assert client.get(live(running.pk)).status_code == 200
    assert client.get(live(running.pk)).status_code == 200


# --- the ETag changes with what the partial shows, and only then ------------------------------


def etag(client, role) -> str:
    response = client.get(live(role.pk))
    assert response.status_code == 200
    return response["ETag"]


def test_the_etag_changes_with_what_the_partial_shows_and_only_then(csm, liberty, running):
    client = logged_in(csm)
    seen = [etag(client, running)]

    def changed() -> bool:
        now = etag(client, running)
        new = now not in seen
        seen.append(now)
        return new

    assert not changed()
    ready_role(company=liberty)  # another role: nothing of this one
    Run.objects.filter(role__company=liberty).exclude(pk=running.last_run_id).update(version=F("version") + 9)
    assert not changed()
    force_state(running, "FAILED")
    assert changed()
    Role.objects.filter(pk=running.pk).update(state_reason="cancelled")
    assert changed()
    Role.objects.filter(pk=running.pk).update(processing_step="AI_ASSESSMENT")
    assert changed()
    Run.objects.filter(pk=running.last_run_id).update(version=F("version") + 1)
    assert changed()
    client.cookies["etter_tz"] = "Asia/Kolkata"
    assert changed()
    csm.user_permissions.remove(Permission.objects.get(codename="push_role"))
    assert changed()
    assert not changed()


def test_the_etag_changes_with_the_place_in_the_queue(csm, liberty):
    first, second = (services.role_push(role=ready_role(company=liberty)) for _ in range(2))
    client = logged_in(csm)
    role = Role.objects.get(pk=second.role_id)
    before = etag(client, role)
    Run.objects.filter(pk=first.pk).update(status=RunStatus.PROCESSING)  # the first starts
    polling.forget()  # the queue order is read again at most once a second
    assert etag(client, role) != before


def test_another_companys_role_is_404_with_and_without_an_etag(liberty, running):
    other = UserFactory(can_push=True)
    CompanyFactory(name="Acme").csms.add(other)
    client = logged_in(other)
    for pk in (running.pk, 10**9):  # the same answer as a role that does not exist
        assert client.get(live(pk)).status_code == 404
        assert client.get(live(pk), HTTP_IF_NONE_MATCH="*").status_code == 404
