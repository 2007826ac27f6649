"""Rules meet events: which emails, webhook calls and inbox entries a chunk of events owes.

A constant number of queries per chunk (rules, CSMs, batch counts, and a query or two per rule
owner and pusher: they are few), and idempotent: rows are unique per event, rule and target,
so handling a chunk twice (a dead processor's chunk claimed again) owes nothing twice.

Each copy is written for its reader: a person is told only of the companies they see (a batch
may mix companies), and a CSM's rule only of the CSM's companies, whoever it goes to."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from batches.models import sees_every_company
from onboarding.models import Company

from .messages import EVERYONE, NOBODY, BatchTally, Message, Scope, batch_counts, message_for, payload_for
from .models import Action, Delivery, Event, EventType, InboxItem, Recipients, Rule

if TYPE_CHECKING:
    from django.contrib.auth.models import User


def dispatch(events: list[Event]) -> int:
    """Create the deliveries and inbox items the events owe. Returns how many deliveries."""
    rules = list(Rule.objects.filter(active=True))
    matches = [(event, rule) for event in events for rule in rules if _applies(rule, event)]
    if not matches:
        return 0
    tallies = batch_counts(
        {e.batch_id for e, _ in matches if e.type == EventType.BATCH_COMPLETED and e.batch_id}
    )
    pushers = {p.pk for e, r in matches if r.recipients == Recipients.PUSHER and (p := _pusher(e))}
    scopes = _scopes({r.owner_id for _, r in matches if r.owner_id} | pushers)
    wanted = {
        c for e, r in matches if r.recipients == Recipients.COMPANY_CSMS for c in _companies(e, tallies)
    }
    csms = _csms_by_company(wanted)
    deliveries: list[Delivery] = []
    inbox: list[InboxItem] = []
    messages: dict[tuple[int, Scope], Message | None] = {}
    for event, rule in matches:
        owner = scopes.get(rule.owner_id, NOBODY) if rule.owner_id else EVERYONE
        for target, user, scope in _targets(rule, event, owner, csms, scopes, tallies):
            key = (event.pk, scope)
            if key not in messages:
                messages[key] = message_for(event, tallies, scope)
            message = messages[key]
            if message is None:  # nothing of this event is theirs to see
                continue
            if rule.action == Action.INBOX:
                inbox.append(_inbox_item(user, event, rule, message))
            elif rule.action == Action.WEBHOOK:
                deliveries.append(_delivery(event, rule, target, message, payload_for(event, message)))
            else:
                deliveries.append(_delivery(event, rule, target, message))
    Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    InboxItem.objects.bulk_create(inbox, ignore_conflicts=True)
    return len(deliveries)


def _applies(rule: Rule, event: Event) -> bool:
    notify = bool(event.run and (event.run.options or {}).get("notify_on_complete"))
    return rule.matches(event, in_batch=event.batch_id is not None, notify_requested=notify)


def _scopes(user_ids: set[int]) -> dict[int, Scope]:
    """The companies each rule owner and pusher may see (a query or two per user: they are few)."""
    from django.contrib.auth import get_user_model

    scopes: dict[int, Scope] = {}
    for user in get_user_model().objects.filter(pk__in=user_ids):
        if sees_every_company(user):
            scopes[user.pk] = Scope(None, user.pk)
        else:
            companies = Company.objects.visible_to(user).values_list("pk", flat=True)
            scopes[user.pk] = Scope(frozenset(companies), user.pk)
    return scopes


def _companies(event: Event, tallies: dict[int, BatchTally]) -> set[int]:
    """The companies an event is about: a role's, or every company a batch touches."""
    if event.type == EventType.BATCH_COMPLETED:
        return tallies[event.batch_id].company_ids() if event.batch_id else set()
    return {event.company_id} if event.company_id else set()


def _csms_by_company(company_ids: set[int]) -> dict[int, list]:
    by_company: dict[int, list] = defaultdict(list)
    if company_ids:
        through = Company.csms.through.objects.filter(company_id__in=company_ids).select_related("user")
        for link in through:
            if link.user.is_active:
                by_company[link.company_id].append(link.user)
    return by_company


def _targets(
    rule: Rule, event: Event, owner: Scope, csms, scopes, tallies
) -> list[tuple[str, User | None, Scope]]:
    """(address or URL, user or None, the scope their copy is written for) per recipient."""
    if rule.action == Action.WEBHOOK:
        return [(rule.webhook_url, None, owner)]
    if rule.recipients == Recipients.ADDRESSES:
        return [(address, None, owner) for address in rule.address_list()]
    readers = _readers(rule, event, csms, scopes, tallies)
    return [  # an email needs an address; an inbox entry, only the user
        (user.email, user, scope.within(owner))
        for user, scope in readers
        if user.email or rule.action == Action.INBOX
    ]


def _readers(rule: Rule, event: Event, csms, scopes, tallies) -> list[tuple[User, Scope]]:
    if rule.recipients == Recipients.COMPANY_CSMS:
        # Each CSM of the companies the event is about, told of the ones they look after.
        found: dict[int, tuple[User, set[int]]] = {}
        for company_id in _companies(event, tallies):
            for user in csms.get(company_id, []):
                found.setdefault(user.pk, (user, set()))[1].add(company_id)
        return [(user, Scope(frozenset(ids), user.pk)) for user, ids in found.values()]
    if rule.recipients == Recipients.PUSHER:
        pusher = _pusher(event)
        if pusher is not None and pusher.is_active:
            return [(pusher, scopes.get(pusher.pk, NOBODY))]
    return []


def _pusher(event: Event):
    if event.type == EventType.BATCH_COMPLETED:
        return event.batch.created_by if event.batch else None
    return event.run.created_by if event.run else None


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
