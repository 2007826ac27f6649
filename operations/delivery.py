"""Send what rules owe: emails through Django's email backend, webhooks through `webhooks`.

Each delivery is claimed with a conditional UPDATE; each try is an attempt row saved before
the call and completed after it. 5xx, 429, timeouts and refused connections are retried
with a doubling wait (recorded as `next_attempt_at`, never slept on for long); any other
answer stops at once."""

from __future__ import annotations

import time
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db.models import F, Min, Q
from django.utils import timezone

from . import webhooks
from .models import Action, Delivery, DeliveryAttempt, DeliveryStatus

DUE = [DeliveryStatus.PENDING, DeliveryStatus.RETRYING]
CLAIM_SECONDS = 120  # longer than one call can take (timeouts are seconds)


def deliveries_due(now=None):
    now = now or timezone.now()
    return Delivery.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lt=now), status__in=DUE, next_attempt_at__lte=now
    )


def deliveries_send(*, limit: int = 200) -> int:
    """Try every delivery due now. Returns how many attempts were made."""
    tried = 0
    for pk in deliveries_due().order_by("next_attempt_at").values_list("pk", flat=True)[:limit]:
        delivery = _claim(pk)
        if delivery is not None:
            delivery_attempt(delivery)
            tried += 1
    return tried


def seconds_to_next_due() -> float | None:
    nearest = Delivery.objects.filter(status__in=DUE).aggregate(at=Min("next_attempt_at"))["at"]
    return None if nearest is None else max(0.0, (nearest - timezone.now()).total_seconds())


def _claim(pk: int) -> Delivery | None:
    now = timezone.now()
    claimed = deliveries_due(now).filter(pk=pk).update(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
    return Delivery.objects.select_related("rule").get(pk=pk) if claimed else None


def delivery_attempt(delivery: Delivery) -> DeliveryAttempt:
    """One try, logged with its answer; the delivery then says sent, retry at, or failed."""
    attempt = DeliveryAttempt.objects.create(delivery=delivery, number=delivery.attempts + 1)
    started = time.monotonic()
    answer = _send(delivery)
    attempt.duration_ms = int((time.monotonic() - started) * 1000)
    attempt.http_status, attempt.answer = answer.http_status, answer.text[: webhooks.ANSWER_KEPT]
    number = delivery.attempts + 1
    retry = not answer.ok and not answer.permanent and number < settings.WEBHOOK_MAX_ATTEMPTS
    attempt.outcome = (
        DeliveryAttempt.Outcome.SENT
        if answer.ok
        else DeliveryAttempt.Outcome.RETRY
        if retry
        else DeliveryAttempt.Outcome.FAILED
    )
    attempt.save(update_fields=["duration_ms", "http_status", "answer", "outcome"])
    _record(delivery, answer, number, retry)
    return attempt


def _record(delivery: Delivery, answer: webhooks.Answer, number: int, retry: bool) -> None:
    now = timezone.now()
    values: dict = {"attempts": F("attempts") + 1, "claimed_until": None, "last_error": ""}
    if answer.ok:
        values.update(status=DeliveryStatus.SENT, finished_at=now, next_attempt_at=None)
    elif retry:
        wait = settings.WEBHOOK_BACKOFF_SECONDS * 2 ** (number - 1)
        values.update(status=DeliveryStatus.RETRYING, next_attempt_at=now + timedelta(seconds=wait))
    else:
        values.update(status=DeliveryStatus.FAILED, finished_at=now, next_attempt_at=None)
    if not answer.ok:
        values["last_error"] = f"{answer.http_status or ''} {answer.text[:500]}".strip()
    Delivery.objects.filter(pk=delivery.pk).update(**values)


def _send(delivery: Delivery) -> webhooks.Answer:
    if delivery.channel == Action.WEBHOOK:
        if delivery.rule is None:
            return webhooks.Answer(False, True, None, "The rule was deleted: no secret to sign with")
        headers = {
            "X-Etter-Event": (delivery.payload or {}).get("type", "test"),
            "X-Etter-Delivery": str(delivery.pk),
        }
        return webhooks.post(
            delivery.target, delivery.rule.webhook_secret, delivery.payload or {}, headers=headers
        )
    return _send_email(delivery)


def _send_email(delivery: Delivery) -> webhooks.Answer:
    message = EmailMessage(delivery.subject, delivery.body, settings.DEFAULT_FROM_EMAIL, [delivery.target])
    try:
        message.send()
    except Exception as exc:  # SMTP and socket errors: the mail server's passing trouble
        return webhooks.Answer(False, False, None, f"{exc.__class__.__name__}: {exc}")
    return webhooks.Answer(True, False, None, "accepted by the email backend")
