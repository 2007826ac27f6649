"""Rules a CSM sets up in the admin, refused with what to fix when wrong; webhook deliveries:
signed, retried on 5xx with every attempt logged, stopped by a 4xx, bounded by a timeout."""

import time

import pytest
from django.core import mail

from onboarding import services
from operations.delivery import deliveries_send
from operations.models import Delivery, DeliveryAttempt, DeliveryStatus, Rule
from operations.services import events_process
from tests.factories import CompanyFactory, RuleFactory, UserFactory, ready_role
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

ADD = "/admin/operations/rule/add/"


@pytest.fixture
def receiver():
    made = []

    def make(**kwargs) -> Receiver:
        made.append(Receiver(**kwargs))
        return made[-1]

    yield make
    for r in made:
        r.close()


def rule_form(**values) -> dict:
    form = {
        "name": "Tell ops",
        "active": "on",
        "event_type": "role.ready",
        "batch_scope": "any",
        "action": "email",
        "recipients": "addresses",
        "addresses": "ops@example.com",
        "webhook_secret": "s3cret",
    }
    return {**form, **values}


def test_an_admin_sets_up_a_rule_in_the_form(admin_client):
    response = admin_client.post(ADD, rule_form(addresses="ops@example.com, lead@example.com"))
    assert response.status_code == 302
    assert Rule.objects.get(name="Tell ops").address_list() == ["ops@example.com", "lead@example.com"]


@pytest.mark.parametrize(
    "values, field, says",
    [
        ({"event_type": "role.exploded"}, "event_type", "not one of the available choices"),
        ({"action": "webhook", "webhook_url": "htp:/nowhere"}, "webhook_url", "Enter a valid URL"),
        ({"action": "webhook", "webhook_url": ""}, "webhook_url", "needs the URL"),
        (
            {"action": "webhook", "webhook_url": "ftp://files.example.com/x"},
            "webhook_url",
            "starts with https://",
        ),
        (
            {"addresses": "ops@example.com, bob@, x y@z"},
            "addresses",
            "Not valid email addresses: bob@, x y@z",
        ),
        ({"addresses": ""}, "addresses", "at least one email address"),
        ({"action": "inbox", "recipients": "addresses"}, "recipients", "The inbox belongs to users"),
    ],
)
def test_a_wrong_rule_is_refused_with_what_to_fix(admin_client, values, field, says):
    response = admin_client.post(ADD, rule_form(**values))
    assert response.status_code == 200 and not Rule.objects.filter(name="Tell ops").exists()
    errors = response.context["adminform"].form.errors
    assert says in " ".join(errors[field]), errors


def test_a_csms_rule_sees_only_the_companies_assigned_to_them(simulator, work):
    csm = UserFactory(can_push=True)
    mine, theirs = ready_role(), ready_role()
    mine.company.csms.add(csm)
    RuleFactory(owner=csm, addresses="csm@example.com")
    services.roles_push(role_ids=[mine.pk, theirs.pk])
    work()
    events_process()
    deliveries_send()
    assert len(mail.outbox) == 1 and mine.name in mail.outbox[0].subject


def test_a_rule_matches_only_its_structured_conditions(simulator, work):
    acme = CompanyFactory(name="Acme")
    RuleFactory(company=acme, state="READY", addresses="acme@example.com")
    RuleFactory(event_type="role.failed", error_class="engineer", addresses="eng@example.com")
    services.roles_push(role_ids=[ready_role(company=acme).pk, ready_role().pk])
    work()
    events_process()
    deliveries_send()
    assert [m.to for m in mail.outbox] == [["acme@example.com"]]


def webhook_rule(url: str) -> Rule:
    return RuleFactory(action="webhook", webhook_url=url, webhook_secret="s3cret")


def deliver_until_done(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while Delivery.objects.filter(status__in=["pending", "retrying"]).exists():
        assert time.monotonic() < deadline, "deliveries still due"
        deliveries_send()
        time.sleep(0.05)


def push_to_ready(work) -> None:
    services.role_push(role=ready_role(name="Claims Adjuster"))
    work()
    events_process()


def test_a_webhook_is_signed_and_a_503_twice_then_200_takes_three_logged_attempts(
    simulator, work, receiver, settings
):
    settings.WEBHOOK_BACKOFF_SECONDS = 0.1
    hook = receiver(secret="s3cret", answers=[503, 503, 200])
    webhook_rule(hook.url)
    push_to_ready(work)
    deliver_until_done()
    assert all(r["signed"] for r in hook.received) and len(hook.received) == 3
    body = hook.received[0]["body"]
    assert (
        body["type"] == "role.ready" and body["role"]["name"] == "Claims Adjuster" and body["correlation_id"]
    )
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 3)
    attempts = list(delivery.attempt_rows.values_list("number", "outcome", "http_status"))
    assert attempts == [(1, "retry", 503), (2, "retry", 503), (3, "sent", 200)]


def test_a_410_stops_after_one_attempt(simulator, work, receiver):
    hook = receiver(secret="s3cret", answers=[410])
    webhook_rule(hook.url)
    push_to_ready(work)
    deliver_until_done()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts, len(hook.received)) == (DeliveryStatus.FAILED, 1, 1)
    assert "410" in delivery.last_error


def test_a_wrong_secret_is_refused_by_the_receiver(simulator, work, receiver):
    hook = receiver(secret="another-secret")
    webhook_rule(hook.url)
    push_to_ready(work)
    deliver_until_done()
    assert hook.received[0]["signed"] is False
    assert DeliveryAttempt.objects.get().http_status == 401


def test_a_hanging_receiver_never_holds_a_worker_past_its_timeout(simulator, work, receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0
    settings.WEBHOOK_BACKOFF_SECONDS = 60
    hook = receiver(secret="s3cret", answers=["hang"], hang_seconds=10)
    webhook_rule(hook.url)
    push_to_ready(work)
    started = time.monotonic()
    deliveries_send()
    assert time.monotonic() - started < 2.5
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.RETRYING and "No answer within 1 s" in delivery.last_error


def test_a_receiver_that_stalls_its_body_is_not_waited_for(simulator, work, receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1.0
    hook = receiver(secret="s3cret", answers=["stall"], hang_seconds=10)
    webhook_rule(hook.url)
    push_to_ready(work)
    started = time.monotonic()
    deliveries_send()
    assert time.monotonic() - started < 2.5
    attempt = DeliveryAttempt.objects.get()
    assert (attempt.outcome, attempt.http_status) == ("sent", 200) and "body not read" in attempt.answer


def test_the_test_button_sends_a_signed_sample_and_logs_it(admin_client, receiver):
    hook = receiver(secret="s3cret")
    rule = webhook_rule(hook.url)
    response = admin_client.post(
        "/admin/operations/rule/", {"action": "send_test", "_selected_action": [rule.pk]}, follow=True
    )
    assert "Sent (HTTP 200)" in response.content.decode()
    assert hook.received[0]["signed"] and hook.received[0]["body"]["test"] is True
    assert Delivery.objects.get().is_test and DeliveryAttempt.objects.get().outcome == "sent"
    page = admin_client.get(f"/admin/operations/delivery/{Delivery.objects.get().pk}/change/")
    assert page.status_code == 200 and b"200" in page.content
