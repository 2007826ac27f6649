"""django-fsm-log, able to collect transition records and write them in one INSERT.

A push of 2,500 roles runs 2,500 transitions; writing each log row on its own would cost a
query per role. Inside `collected_state_logs()` the rows are gathered and bulk-created when
the block ends; everywhere else this backend behaves exactly like django-fsm-log's own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.dispatch import Signal
from django_fsm_log.backends import SimpleBackend, _pre_transition_callback

from onboarding.bulk import insert_objects

_local = threading.local()

# Sent with `rows` (the StateLog rows just written), inside the caller's transaction, once per
# bulk insert or single row: an upper app can record what it needs in bulk, in the same
# transaction, without this app knowing it.
transitions_recorded = Signal()


class _Collector:
    def __init__(self) -> None:
        self.rows: list = []

    def create(self, **values) -> None:
        from django_fsm_log.models import StateLog

        self.rows.append(StateLog(**values))


class CollectingBackend(SimpleBackend):
    @staticmethod
    def post_transition_callback(sender, instance, name, source, target, **kwargs):
        collector = getattr(_local, "collector", None)
        if collector is None:
            single = _Collector()
            _pre_transition_callback(sender, instance, name, source, target, single, **kwargs)
            for row in single.rows:
                row.save()
            if single.rows:
                transitions_recorded.send(sender=CollectingBackend, rows=single.rows)
            return None
        return _pre_transition_callback(sender, instance, name, source, target, collector, **kwargs)


@contextmanager
def collected_state_logs() -> Iterator[None]:

    _local.collector = collector = _Collector()
    try:
        yield
    finally:
        _local.collector = None
    insert_objects(collector.rows)  # thousands for a big push: no model instance per value
    if collector.rows:
        transitions_recorded.send(sender=CollectingBackend, rows=collector.rows)
