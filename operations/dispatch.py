"""Rules meet events: which emails, webhook calls and inbox entries a chunk of events owes.

A constant number of queries per chunk (rules, CSMs, owners' companies, batch counts), and
idempotent: rows are unique per event, rule and target, so handling a chunk twice (a dead
processor's chunk claimed again) owes nothing twice."""

from __future__ import annotations

from collections import defaultdict

from onboarding.models import Company

from .messages import Message, batch_counts, message_for, payload_for
from .models import Action, Delivery, Event, EventType, InboxItem, Recipients, Rule


def dispatch(events: list[Event]) -> int:
    """Create the deliveries and inbox items the events owe. Returns how many deliveries."""
    rules = list(Rule.objects.filter(active=True))
    matches = [(event, rule) for event in events for rule in rules if _applies(rule, event)]
    if not matches:
        return 0
    scopes = _owner_scopes({rule.owner_id for _, rule in matches if rule.owner_id})
    matches = [(e, r) for e, r in matches if r.owner_id is None or e.company_id in scopes[r.owner_id]]
    csms = _csms_by_company(
        {e.company_id for e, r in matches if r.recipients == Recipients.COMPANY_CSMS and e.company_id}
    )
    counts = batch_counts(
        {e.batch_id for e, _ in matches if e.type == EventType.BATCH_COMPLETED and e.batch_id}
    )
    deliveries: list[Delivery] = []
    inbox: list[InboxItem] = []
    messages: dict[int, Message] = {}
    for event, rule in matches:
        message = messages.get(event.pk) or messages.setdefault(event.pk, message_for(event, counts))
        users = _users(rule, event, csms)
        if rule.action == Action.INBOX:
            inbox += [_inbox_item(user, event, rule, message) for user in users]
        elif rule.action == Action.WEBHOOK:
            deliveries.append(_delivery(event, rule, rule.webhook_url, message, payload_for(event, message)))
        else:
            addresses = rule.address_list() if rule.recipients == Recipients.ADDRESSES else _emails(users)
            deliveries += [_delivery(event, rule, address, message) for address in addresses]
    Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    InboxItem.objects.bulk_create(inbox, ignore_conflicts=True)
    return len(deliveries)


def _applies(rule: Rule, event: Event) -> bool:
    notify = bool(event.run and (event.run.options or {}).get("notify_on_complete"))
    return rule.matches(event, in_batch=event.batch_id is not None, notify_requested=notify)


def _owner_scopes(owner_ids: set[int]) -> dict[int, set[int]]:
    """The companies each rule owner may see (a query per owner: owners are few)."""
    from django.contrib.auth import get_user_model

    scopes: dict[int, set] = defaultdict(set)
    for owner in get_user_model().objects.filter(pk__in=owner_ids):
        scopes[owner.pk] = set(Company.objects.visible_to(owner).values_list("pk", flat=True))
    return scopes


def _csms_by_company(company_ids: set[int]) -> dict[int, list]:
    by_company: dict[int, list] = defaultdict(list)
    if company_ids:
        through = Company.csms.through.objects.filter(company_id__in=company_ids).select_related("user")
        for link in through:
            if link.user.is_active:
                by_company[link.company_id].append(link.user)
    return by_company


def _users(rule: Rule, event: Event, csms: dict[int, list]) -> list:
    if rule.recipients == Recipients.COMPANY_CSMS:
        return csms.get(event.company_id, []) if event.company_id else []
    if rule.recipients == Recipients.PUSHER:
        pusher = _pusher(event)
        return [pusher] if pusher is not None and pusher.is_active else []
    return []


def _pusher(event: Event):
    if event.type == EventType.BATCH_COMPLETED:
        return event.batch.created_by if event.batch else None
    return event.run.created_by if event.run else None


def _emails(users: list) -> list[str]:
    return [user.email for user in users if user.email]


def _delivery(
    event: Event, rule: Rule, target: str, message: Message, payload: dict | None = None
) -> Delivery:
    return Delivery(
        event=event,
        rule=rule,
        channel=rule.action,
        target=target,
        subject=message.subject[:300],
        body=message.body,
        payload=payload,
        next_attempt_at=event.created_at,
    )


def _inbox_item(user, event: Event, rule: Rule, message: Message) -> InboxItem:
    return InboxItem(
        user=user, event=event, rule=rule, title=message.subject[:300], body=message.body, url=message.path
    )
