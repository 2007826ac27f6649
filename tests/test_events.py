"""Events (the outbox): written with every role transition in the same transaction, handled
in order and at least once by idempotent handlers; the built-in rules turn them into emails,
a batch digest and inbox entries."""

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from batches.services import batch_push
from onboarding import services
from onboarding.draup_world import RUN_AI_ASSESSMENT
from onboarding.models import Role, RoleState
from operations.delivery import deliveries_send
from operations.models import Delivery, Event, InboxItem
from operations.services import events_process
from tests.factories import RoleFactory, UserFactory, ready_role

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("alert_defaults")]


def types(**filters) -> list[str]:
    return list(Event.objects.filter(**filters).order_by("id").values_list("type", flat=True))


def test_every_transition_writes_an_event_with_the_runs_trace_id(simulator, work):
    pusher = UserFactory(email="ann@example.com", can_push=True)
    role = ready_role()
    run = services.role_push(role=role, user=pusher)
    queued = Event.objects.get()
    assert (queued.type, queued.from_state, queued.to_state) == ("role.queued", "DRAFT", "QUEUED")
    assert queued.correlation_id == run.trace_id and queued.actor == pusher and queued.run_id == run.pk
    assert queued.company_id == role.company_id and queued.processed_at is None
    work()
    assert types(role=role) == ["role.queued", "role.processing", "role.ready"]
    assert set(Event.objects.values_list("correlation_id", flat=True)) == {run.trace_id}


def test_a_rolled_back_change_leaves_no_event():
    role = ready_role()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.role_push(role=role)
        assert Event.objects.count() == 1
        raise RuntimeError("the caller's transaction fails")
    assert Event.objects.count() == 0 and Role.objects.get(pk=role.pk).state == RoleState.DRAFT


def test_a_bulk_push_writes_its_events_in_a_constant_number_of_queries(count_queries):
    def push(n):
        ids = [ready_role().pk for _ in range(n)]
        return count_queries(lambda: services.roles_push(role_ids=ids))

    push(2)  # warm per-process caches
    assert push(10) == push(40)  # (SQLite splits inserts of more than 999 parameters)
    assert Event.objects.filter(type="role.queued").count() == 52


def test_notify_on_complete_sends_exactly_one_email_to_the_pusher(simulator, work):
    pusher = UserFactory(email="ann@example.com", can_push=True)
    quiet = ready_role()
    services.role_push(role=quiet, user=pusher)  # no notify_on_complete: no email
    role = ready_role(name="Claims Adjuster")
    role.company.csms.add(pusher)  # a pusher is told only of the companies they see
    services.role_push(role=role, user=pusher, options={"notify_on_complete": True})
    work()
    events_process()
    events_process()  # a second pass (a duplicate job) owes nothing more
    deliveries_send()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["ann@example.com"] and "Claims Adjuster is ready" in message.subject
    assert f"/status/roles/{role.pk}/" in message.body


def test_a_chunk_whose_processor_died_is_handled_again_and_owes_nothing_twice(simulator, work):
    pusher = UserFactory(email="ann@example.com", can_push=True)
    role = ready_role()
    role.company.csms.add(pusher)
    services.role_push(role=role, user=pusher, options={"notify_on_complete": True})
    work()
    events_process()
    # As if the processor died after its work but before marking the events processed.
    Event.objects.update(processed_at=None, claimed_until=timezone.now() - timedelta(seconds=1))
    assert events_process() == 3
    assert Delivery.objects.count() == 1
    deliveries_send()
    assert len(mail.outbox) == 1


def test_a_claimed_chunk_is_left_alone_until_its_lease_expires(simulator):
    services.role_push(role=ready_role())
    Event.objects.update(claimed_until=timezone.now() + timedelta(seconds=60), claim_token="other")
    assert events_process() == 0
    Event.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    assert events_process() == 1


def test_a_finished_batch_completes_once_with_a_digest_to_the_pusher(simulator, work):
    pusher = UserFactory(email="ann@example.com", can_push=True)
    roles = [ready_role(company__name="Acme") for _ in range(3)]
    missing_jd = RoleFactory(company=roles[0].company)
    roles[0].company.csms.add(pusher)
    simulator.fault(RUN_AI_ASSESSMENT, "400")
    batch = batch_push(role_ids=[r.pk for r in [*roles, missing_jd]], user=pusher)
    work()
    events_process()
    events_process()
    assert Event.objects.filter(type="batch.completed", batch=batch).count() == 1
    deliveries_send()
    assert len(mail.outbox) == 1
    digest = mail.outbox[0]
    assert digest.subject == "Acme batch: 2 ready, 2 need you"
    assert f"/status/batches/{batch.pk}/" in digest.body and digest.to == ["ann@example.com"]


def test_a_failure_needing_a_person_goes_to_the_companys_csms_inbox(simulator, work, client):
    csm = UserFactory(can_push=True)
    role = ready_role()
    role.company.csms.add(csm)
    simulator.fault(RUN_AI_ASSESSMENT, "400")
    services.role_push(role=role, user=csm)
    work()
    events_process()
    item = InboxItem.objects.get(user=csm)
    assert role.name in item.title and item.url == f"/status/roles/{role.pk}/"
    client.force_login(csm)
    page = client.get("/status/")
    assert b'id="inbox-link"' in page.content and b'class="count">1<' in page.content
    inbox = client.get("/status/inbox/")
    assert role.name.encode() in inbox.content
    client.post(f"/status/inbox/{item.pk}/read/")
    assert InboxItem.objects.get(pk=item.pk).read_at is not None
    assert b'class="count"' not in client.get("/status/").content


def test_another_users_inbox_item_cannot_be_marked_read(simulator, work, client):
    csm = UserFactory(can_push=True)
    role = ready_role()
    role.company.csms.add(csm)
    simulator.fault(RUN_AI_ASSESSMENT, "400")
    services.role_push(role=role, user=csm)
    work()
    events_process()
    item = InboxItem.objects.get(user=csm)
    client.force_login(UserFactory())
    assert client.post(f"/status/inbox/{item.pk}/read/").status_code == 404
    assert InboxItem.objects.get(pk=item.pk).read_at is None


def test_two_processors_at_once_still_handle_the_events_in_order():
    from tests.helpers import run_in_threads

    batch_push(role_ids=[ready_role().pk for _ in range(30)])  # 30 queued events
    run_in_threads(lambda: events_process(chunk=4), 2)
    handled = list(Event.objects.order_by("id").values_list("processed_at", flat=True))
    assert len(handled) == 30 and all(handled)
    assert handled == sorted(handled)  # chunk after chunk, oldest first: never interleaved
