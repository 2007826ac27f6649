"""Events, alerts and webhooks with a real django-q2 cluster (`manage.py qcluster`): a push
asking notify_on_complete sends exactly one email and one signed webhook; a receiver
answering 503 twice then 200 gets three attempts, a 410 gets one, all logged; an SLA of about
a second with a slow assessment is breached before the run ends."""

import email
import time

import pytest

from onboarding import services
from onboarding.draup_world import RUN_AI_ASSESSMENT
from onboarding.models import Role, RoleState, Run
from operations.models import Delivery, DeliveryAttempt, Event, SlaConfig, SlaRecord
from tests.factories import RuleFactory, UserFactory, ready_role
from tests.webhook_receiver import Receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("alert_defaults")]


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)


def sent_emails(folder) -> list:
    return [
        email.message_from_string(m)
        for f in folder.glob("*.log")
        for m in f.read_text().split("-" * 79)
        if m.strip()
    ]


def attempts_of(rule_name: str) -> list:
    attempts = DeliveryAttempt.objects.filter(delivery__rule__name=rule_name).order_by("number")
    return list(attempts.values_list("outcome", "http_status"))


def test_a_real_cluster_notifies_once_by_email_and_signed_webhooks_with_retries(
    cluster, simulator, tmp_path, settings
):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {RUN_AI_ASSESSMENT: 5.0}}
    SlaConfig.objects.filter(company=None).update(target_minutes=0.02)  # 1.2 s
    receivers = {name: Receiver(secret="s3cret", answers=answers) for name, answers in
                 [("ok", []), ("flaky", [503, 503, 200]), ("gone", [410])]}  # fmt: skip
    try:
        for name, receiver in receivers.items():
            RuleFactory(name=name, action="webhook", webhook_url=receiver.url, webhook_secret="s3cret")
        pusher = UserFactory(email="ann@example.com", can_push=True)
        role = ready_role(name="Claims Adjuster")
        role.company.csms.add(pusher)  # a pusher is told only of the companies they see
        mails = tmp_path / "mail"
        mails.mkdir()
        cluster(
            EMAIL_URL=f"filemail:///{mails}",
            WEBHOOK_BACKOFF_SECONDS="0.3",
            WEBHOOK_TIMEOUT_SECONDS="15",  # the receivers live in this busy test process
            EVENTS_DOORBELL_SECONDS="1",
            Q_WORKERS="2",  # one runs the slow assessment, the other the events and SLA jobs
        )
        services.role_push(role=role, user=pusher, options={"notify_on_complete": True})

        wait_for(lambda: Role.objects.get(pk=role.pk).state == RoleState.READY)
        wait_for(
            lambda: (
                not Delivery.objects.exclude(status__in=["sent", "failed"]).exists()
                and Delivery.objects.count() == 4
            )
        )
        wait_for(lambda: not Event.objects.filter(processed_at__isnull=True).exists())
        time.sleep(1)  # nothing more arrives later
        messages = sent_emails(mails)
        assert len(messages) == 1 and messages[0]["To"] == "ann@example.com"
        assert "Claims Adjuster is ready" in messages[0]["Subject"]
        assert [len(receivers[n].received) for n in ("ok", "flaky", "gone")] == [1, 3, 1]
        assert all(r["signed"] for rec in receivers.values() for r in rec.received)
        assert receivers["ok"].received[0]["body"]["type"] == "role.ready"
        breach = Event.objects.get(type="sla.breached")
        run = Run.objects.get(role=role)
        assert breach.created_at < run.finished_at and breach.correlation_id == run.trace_id
        assert SlaRecord.objects.get(run=run).breached
        assert {name: attempts_of(name) for name in receivers} == {
            "ok": [("sent", 200)],
            "flaky": [("retry", 503), ("retry", 503), ("sent", 200)],
            "gone": [("failed", 410)],
        }
    finally:
        for receiver in receivers.values():
            receiver.close()
