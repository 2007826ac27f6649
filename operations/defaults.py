"""The built-in rules and the default SLA: made by migration 0002, and again by
`ensure_defaults()` (tests, or an admin who deleted them by mistake: `manage.py
operations_defaults`). Running it twice changes nothing."""

from typing import Any

DEFAULT_RULES: list[dict[str, Any]] = [
    dict(
        name="Role ready: tell the pusher",
        event_type="role.ready",
        action="email",
        recipients="pusher",
        batch_scope="single",
        only_if_notify_requested=True,
    ),
    dict(
        name="Role failed: tell the pusher",
        event_type="role.failed",
        action="email",
        recipients="pusher",
        batch_scope="single",
        only_if_notify_requested=True,
    ),
    dict(
        name="Batch done: digest to the pusher",
        event_type="batch.completed",
        action="email",
        recipients="pusher",
    ),
    dict(
        name="Role failed and needs a person: CSMs' inbox",
        event_type="role.failed",
        error_class="needs_you",
        action="inbox",
        recipients="csms",
    ),
    dict(name="SLA breached: CSMs' inbox", event_type="sla.breached", action="inbox", recipients="csms"),
]
DEFAULT_SLA_MINUTES = 15.0


def ensure_defaults(rule_model=None, sla_model=None) -> None:
    """Takes the models as arguments so that a migration can pass its historical ones."""
    if rule_model is None:
        from .models import Rule as rule_model
        from .models import SlaConfig as sla_model
    for values in DEFAULT_RULES:
        rule_model.objects.get_or_create(name=values["name"], built_in=True, defaults=values)
    sla_model.objects.get_or_create(company=None, defaults={"target_minutes": DEFAULT_SLA_MINUTES})
