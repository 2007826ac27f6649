"""django-fsm-log, able to collect transition records and write them in one INSERT.

A push of 2,500 roles runs 2,500 transitions; writing each log row on its own would cost a
query per role. Inside `collected_state_logs()` the rows are gathered and bulk-created when
the block ends; everywhere else this backend behaves exactly like django-fsm-log's own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.dispatch import Signal
from django.utils import timezone
from django_fsm_log.backends import SimpleBackend, _pre_transition_callback

from onboarding.bulk import insert_rows

_local = threading.local()

# Sent with `rows` (the transitions just logged, as `Transition`s), inside the caller's
# transaction, once per bulk insert or single row: an upper app can record what it needs in
# bulk, in the same transaction, without this app knowing it.
transitions_recorded = Signal()


@dataclass(frozen=True)
class Transition:
    """One logged transition, by StateLog's names: what `transitions_recorded` receivers read.
    The object itself, not StateLog's generic relation to it: reading that again per row
    costs a content type lookup each time."""

    content_object: Model
    source_state: str | None
    state: str
    transition: str
    by_id: int | None
    description: str | None
    timestamp: datetime

    def row(self) -> dict:
        """The StateLog row, by its attnames."""
        return {
            "content_type_id": ContentType.objects.get_for_model(type(self.content_object)).pk,
            "object_id": self.content_object.pk,
            "source_state": self.source_state,
            "state": self.state,
            "transition": self.transition,
            "by_id": self.by_id,
            "description": self.description,
            "timestamp": self.timestamp,
        }


class _Collector:
    """What django-fsm-log's callback calls `create(**values)` on: here it keeps the values."""

    def __init__(self) -> None:
        self.rows: list[Transition] = []

    def create(self, *, content_object, source_state, state, transition, by=None, description=None) -> None:
        by_id = getattr(by, "pk", by)  # a user, or None
        self.rows.append(
            Transition(content_object, source_state, state, transition, by_id, description, timezone.now())
        )


class CollectingBackend(SimpleBackend):
    @staticmethod
    def post_transition_callback(sender, instance, name, source, target, **kwargs):
        collector = getattr(_local, "collector", None)
        if collector is None:
            single = _Collector()
            _pre_transition_callback(sender, instance, name, source, target, single, **kwargs)
            _record(single.rows)
            return None
        return _pre_transition_callback(sender, instance, name, source, target, collector, **kwargs)


@contextmanager
def collected_state_logs() -> Iterator[None]:
    _local.collector = collector = _Collector()
    try:
        yield
    finally:
        _local.collector = None
    _record(collector.rows)


def _record(rows: list[Transition]) -> None:
    """Write the rows (thousands for a big push: by COPY, without a model instance per row) and
    tell the receivers."""
    if not rows:
        return
    from django_fsm_log.models import StateLog

    if len(rows) == 1:
        StateLog.objects.create(**rows[0].row())  # one row: the ORM's ordinary INSERT
    else:
        insert_rows(StateLog, [row.row() for row in rows])
    transitions_recorded.send(sender=CollectingBackend, rows=rows)
