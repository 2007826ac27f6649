"""batch-status and the batch live partial under many pollers: an answer per scope (who sees the
same), at most BATCH_STATUS_FRESH_SECONDS old, never older than one a conditional poller holds,
a constant cost per poll, and never a company's part shown to a CSM of another."""

import json
import zoneinfo

import pytest
from django.core.cache import caches
from django.db import connection
from django.db.models import F
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from batches import polling
from batches.models import BatchRefusal
from batches.polling import batch_status_body
from batches.scope import BatchScope
from batches.services import batch_push
from onboarding.models import Run, RunStatus
from tests.factories import CompanyFactory, UserFactory, ready_role
from tests.test_polling import BASE, ready_roles, token_client

pytestmark = pytest.mark.django_db
SECOND = 1_000_000  # the clock counts microseconds


@pytest.fixture
def clock(monkeypatch):
    """The batch answers' clock, moved by hand: `clock.now += SECOND`."""

    class Clock:
        now = polling.clock()

    monkeypatch.setattr(polling, "clock", lambda: Clock.now)
    return Clock


def status_url(batch) -> str:
    return BASE + f"batch-status/{batch.batch_id}"


def live_url(batch) -> str:
    return reverse("status-batch-live", args=[batch.pk])


def finish(run: Run, status: str = RunStatus.READY, **fields) -> None:
    """What the engine does when a run ends (with the version bump)."""
    Run.objects.filter(pk=run.pk).update(
        status=status, finished_at=timezone.now(), version=F("version") + 1, **fields
    )


def aggregates(queries) -> int:
    return sum("COUNT(" in q["sql"].upper() for q in queries)


def test_a_poll_from_the_cache_costs_the_same_queries_for_5_or_2500_roles(
    client, csm, liberty, count_queries, settings
):
    settings.API_AUTH_CACHE_SECONDS = settings.BATCH_STATUS_FRESH_SECONDS = 600  # no expiry mid-test
    admin = UserFactory(is_superuser=True)
    small = batch_push(role_ids=ready_roles(liberty, 5, "S"))
    big = batch_push(role_ids=ready_roles(liberty, 2500, "B"))
    for user in (csm, admin):
        api = token_client(user)
        client.force_login(user)
        costs = {}
        for batch in (small, big):
            api_get = lambda batch=batch, api=api: api.get(status_url(batch))  # noqa: E731
            live_get = lambda batch=batch: client.get(live_url(batch))  # noqa: E731
            for face, get in (("api", api_get), ("live", live_get)):
                assert get().status_code == 200  # computed once, then from the cache
                costs.setdefault(face, []).append(count_queries(get))
        assert costs["api"] == [0, 0], user  # token, batch, scope and answer: all cached
        # the live partial: the session, its user, the user's and their groups' permissions (H2
        # makes sessions cheap); nothing of the batch
        assert costs["live"][0] == costs["live"][1] <= 4, (user, costs)


def test_two_csms_of_one_company_share_one_computation(client, csm, liberty):
    other = UserFactory(can_push=True)
    liberty.csms.add(other)
    batch = batch_push(role_ids=[ready_role(company=liberty).pk for _ in range(3)])
    for face in ("api", "live"):
        counts = []
        for user in (csm, other):
            client.force_login(user)
            with CaptureQueriesContext(connection) as ctx:
                if face == "api":
                    assert token_client(user).get(status_url(batch)).status_code == 200
                else:
                    assert client.get(live_url(batch)).status_code == 200
            counts.append(aggregates(ctx.captured_queries))
        assert counts[0] > 0 and counts[1] == 0, (face, counts)


def test_a_finished_run_shows_once_the_freshness_window_passes(api, liberty, settings, clock):
    settings.BATCH_STATUS_FRESH_SECONDS = 1.0
    batch = batch_push(role_ids=[ready_role(company=liberty).pk for _ in range(3)])
    assert api.get(status_url(batch)).json()["counts"]["ready"] == 0
    finish(batch.runs.first())
    clock.now += SECOND // 2
    assert api.get(status_url(batch)).json()["counts"]["ready"] == 0  # within the window: cached
    clock.now += SECOND // 2
    assert api.get(status_url(batch)).json()["counts"] == {
        "queued": 2,
        "processing": 0,
        "ready": 1,
        "degraded": 0,
        "failed": 0,
    }


def test_a_conditional_poll_newer_than_the_cached_answer_gets_a_fresh_one(api, csm, liberty, clock):
    # one role: once it finished, nothing in the answer moves with the clock (the estimate is 0)
    batch = batch_push(role_ids=[ready_role(company=liberty).pk])
    old = api.get(status_url(batch))
    key = f"batch-status:{batch.pk}:{BatchScope.of(batch, csm).key}"
    this_process = caches["status"].get(key)
    finish(batch.runs.first())
    # Another process computes later and answers the poller: the new counts, a newer tag.
    clock.now += SECOND // 4
    caches["status"].delete(key)
    new = api.get(status_url(batch))
    assert new.json()["counts"]["ready"] == 1 and new["ETag"] != old["ETag"]
    # Back on this process, whose answer is older but still fresh: never the older counts.
    caches["status"].set(key, this_process)
    clock.now += SECOND // 4
    again = api.get(status_url(batch), HTTP_IF_NONE_MATCH=new["ETag"])
    assert again.status_code == 304 and again["ETag"] == new["ETag"]
    assert api.get(status_url(batch)).json()["counts"]["ready"] == 1  # recomputed, now cached
    # A tag that holds the old answer gets the new one; one from the future is not believed.
    assert api.get(status_url(batch), HTTP_IF_NONE_MATCH=old["ETag"]).status_code == 200
    future = new["ETag"].replace(f":{this_process.at + SECOND // 4}:", f":{clock.now + 60 * SECOND}:")
    assert future != new["ETag"] and api.get(status_url(batch), HTTP_IF_NONE_MATCH=future).status_code == 200


def test_unchanged_is_304_and_another_companys_batch_is_404_like_a_missing_one(client, api, liberty):
    batch = batch_push(role_ids=[ready_role(company=liberty).pk])
    first = api.get(status_url(batch))
    assert first.status_code == 200
    assert api.get(status_url(batch), HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    stranger = UserFactory(can_push=True)
    CompanyFactory(name="Acme").csms.add(stranger)
    theirs = token_client(stranger)
    missing = theirs.get(BASE + "batch-status/batch-nope")
    assert missing.status_code == 404
    for held in ({}, {"HTTP_IF_NONE_MATCH": first["ETag"]}, {"HTTP_IF_NONE_MATCH": "*"}):
        answer = theirs.get(status_url(batch), **held)
        assert answer.status_code == 404 and "ETag" not in answer
        assert answer.json() == {
            **missing.json(),
            "detail": {**missing.json()["detail"], "message": f"No batch {batch.batch_id}."},
        }
    client.force_login(stranger)
    live = client.get(live_url(batch))
    assert client.get(live_url(batch), HTTP_IF_NONE_MATCH="*").status_code == live.status_code == 404


def mixed_batch(liberty, pusher=None):
    """Two roles of Liberty Mutual and two of Acme (one failed each), a refused role of each and
    a refusal with no role (an unknown company the pusher sent)."""
    acme = CompanyFactory(name="Acme")
    roles = [ready_role(company=liberty, name=f"Liberty {i}") for i in range(2)]
    roles += [ready_role(company=acme, name=f"Acme {i}") for i in range(2)]
    batch = batch_push(role_ids=[r.pk for r in roles], user=pusher)
    for company in (liberty, acme):
        run = batch.runs.filter(role__company=company).first()
        finish(run, RunStatus.FAILED, error={"error": "BAD_JD", "message": f"{company.name} JD", "step": "x"})
        refused = ready_role(company=company, name=f"{company.name} refused")
        BatchRefusal.objects.create(batch=batch, role=refused, role_name=refused.name, code="X", message="no")
    BatchRefusal.objects.create(
        batch=batch, company_name="Nowhere", role_name="Ghost", code="X", message="who"
    )
    return batch


def test_a_csm_never_sees_another_companys_part_also_after_staff_filled_the_cache(client, api, csm, liberty):
    batch = mixed_batch(liberty)
    admin = UserFactory(is_superuser=True)
    whole = token_client(admin).get(status_url(batch)).json()
    assert whole["total"] == 4 and whole["refused"] == 3 and len(whole["failed"]) == 2
    client.force_login(admin)
    assert "Acme refused" in client.get(live_url(batch)).content.decode()
    body = api.get(status_url(batch)).json()
    plain = json.loads(JSONRenderer().render(batch_status_body(batch, csm)))
    for answer in (body, plain):  # the estimate moves with the clock: the rest is exact
        answer.pop("estimated_seconds_left")
    assert body == plain
    assert body["total"] == 2 and body["refused"] == 1
    assert [f["company_id"] for f in body["failed"]] == ["Liberty Mutual"]
    client.force_login(csm)
    page = client.get(live_url(batch)).content.decode()
    assert "Liberty Mutual refused" in page and "Liberty Mutual JD" in page
    assert "Acme" not in page and "Ghost" not in page


def test_the_pusher_sees_refusals_with_no_role_another_csm_of_the_company_does_not(client, csm, liberty):
    batch = mixed_batch(liberty, pusher=csm)
    other = UserFactory(can_push=True)
    liberty.csms.add(other)
    apis = {user: token_client(user) for user in (csm, other)}
    for first, second in ((csm, other), (other, csm)):
        polling_answers = {}
        for user in (first, second):
            polling_answers[user] = apis[user].get(status_url(batch)).json()["refused"]
            client.force_login(user)
            polling_answers[user, "live"] = "Ghost" in client.get(live_url(batch)).content.decode()
        assert polling_answers == {csm: 2, other: 1, (csm, "live"): True, (other, "live"): False}
        caches["status"].clear()


def test_the_retry_form_carries_each_viewers_own_csrf_token(csm, liberty):
    other = UserFactory(can_push=True)
    liberty.csms.add(other)
    batch = mixed_batch(liberty)
    for user in (csm, other):  # the second gets the partial the first one's poll rendered
        browser = Client(enforce_csrf_checks=True)
        browser.force_login(user)
        page = browser.get(live_url(batch)).content.decode()
        token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
        retry = browser.post(reverse("status-batch-retry", args=[batch.pk]), {"csrfmiddlewaretoken": token})
        assert retry.status_code == 302, user


def test_each_time_zone_gets_the_partial_in_its_own_time(client, csm, liberty):
    from onboarding.timezones import SESSION_KEY

    other = UserFactory(can_push=True)
    liberty.csms.add(other)
    batch = batch_push(role_ids=[ready_role(company=liberty).pk])
    finish(batch.runs.first())
    finished_at = batch.runs.get().finished_at
    pages = {}
    for user, zone in ((csm, "Asia/Tokyo"), (other, "America/New_York")):
        client.force_login(user)
        session = client.session
        session[SESSION_KEY] = zone
        session.save()
        pages[zone] = client.get(live_url(batch)).content.decode()
    for zone, page in pages.items():
        local = timezone.localtime(finished_at, timezone=zoneinfo.ZoneInfo(zone))
        assert f"Finished {local:%Y-%m-%d %H:%M:%S}." in page, zone


def test_while_one_thread_computes_the_others_serve_the_answer_it_replaces(api, csm, liberty, clock):
    batch = batch_push(role_ids=[ready_role(company=liberty).pk for _ in range(3)])
    first = api.get(status_url(batch))
    finish(batch.runs.first())
    clock.now += 2 * SECOND  # past the window
    key = f"batch-status:{batch.pk}:{BatchScope.of(batch, csm).key}"
    polling._computing.add(key)  # another thread is computing it
    try:
        with CaptureQueriesContext(connection) as ctx:
            assert api.get(status_url(batch)).json() == first.json()
        assert aggregates(ctx.captured_queries) == 0
        # a client that holds a newer answer than this one is not served it, though
        newer = first["ETag"].replace(f":{clock.now - 2 * SECOND}:", f":{clock.now}:")
        assert api.get(status_url(batch), HTTP_IF_NONE_MATCH=newer).json()["counts"]["ready"] == 1
    finally:
        polling._computing.discard(key)
    assert key not in polling._computing


def test_the_answer_is_byte_for_byte_the_plain_paths(api, csm, liberty):
    batch = batch_push(role_ids=[ready_role(company=liberty, name=f"Ünïcode {i}").pk for i in range(3)])
    first, *rest = batch.runs.order_by("pk")
    finish(first, RunStatus.FAILED, error={"error": "BAD_JD", "message": "JD \u2028 too short", "step": "x"})
    for run in rest:
        finish(run)  # all finished: nothing in the answer moves with the clock
    answer = api.get(status_url(batch))
    assert answer.content == JSONRenderer().render(batch_status_body(batch, csm))
    indented = api.get(status_url(batch), HTTP_ACCEPT="application/json; indent=2")
    assert indented.content == JSONRenderer().render(
        batch_status_body(batch, csm), "application/json; indent=2", {"indent": 2}
    )
