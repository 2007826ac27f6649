"""django-fsm-log, able to collect transition records and write them in one INSERT.

A push of 2,500 roles runs 2,500 transitions; writing each log row on its own would cost a
query per role. Inside `collected_state_logs()` the rows are gathered and bulk-created when
the block ends; everywhere else this backend behaves exactly like django-fsm-log's own.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django_fsm_log.backends import SimpleBackend, _pre_transition_callback

_local = threading.local()


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
            return SimpleBackend.post_transition_callback(sender, instance, name, source, target, **kwargs)
        return _pre_transition_callback(sender, instance, name, source, target, collector, **kwargs)


@contextmanager
def collected_state_logs() -> Iterator[None]:
    from django_fsm_log.models import StateLog

    _local.collector = collector = _Collector()
    try:
        yield
    finally:
        _local.collector = None
    StateLog.objects.bulk_create(collector.rows)
