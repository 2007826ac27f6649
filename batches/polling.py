"""GET batch-status and the batch page's live partial for many pollers: bounded freshness.

A batch of 2,500 roles costs aggregates over all its runs to answer (tens of ms), so no poll
reads them: each server process computes a batch's answer for a scope (batches/scope.py: who
sees the same) at most once every BATCH_STATUS_FRESH_SECONDS and serves it from its cache
meanwhile. An answer is therefore at most that many seconds old, plus the time one computation
takes; nothing is added to the engine's writes (no counter on the batch to bump with every
run).

Several processes each keep their own answer, computed at different times. So that a poller
never sees the batch go backwards when its requests land on different processes, an ETag
carries the time the answer's read started; a request holding a newer one than the process's
answer gets a fresh computation instead. A 304 hands back the tag the client holds, so that
the times in tags only move when the answer does (else processes would chase each other's
newer tags with recomputations).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.utils.http import parse_etags
from rest_framework.renderers import JSONRenderer

from batches.models import Batch
from batches.scope import BatchScope
from batches.selectors import BatchStatus, batch_status, status_of
from onboarding.errors import NotFound
from onboarding.polling import StatusAnswer, digest

KEEP_SECONDS = 600  # an answer past its freshness is never served: the timeout only frees memory


def clock() -> int:
    """Microseconds since the epoch: comparable between the server's processes (tests move it)."""
    return time.time_ns() // 1000


@dataclass(frozen=True)
class Answer:
    """One scope's answer, as of `at` (when its read started), computed by `done`."""

    at: int
    done: int
    visible: bool  # False: the scope sees nothing of the batch, which is then a 404
    value: Any
    digest: str

    def etag(self, name: str) -> str:
        return f'W/"{name}:{self.at}:{self.digest}"'


def fresh_answer(key: str, name: str, if_none_match: str | None, compute: Callable[[], tuple[bool, Any]]):
    """(answer, ETag) for the scope's cache `key`: the process's answer while it is fresh and not
    older than what the client holds, else a new one from `compute()` -> (visible, value). The
    ETag is the one the client holds when it names this same answer (the caller answers 304)."""
    now = clock()
    held = _held(name, if_none_match, now)
    cache = caches["status"]
    answer = cache.get(key)
    fresh_for = settings.BATCH_STATUS_FRESH_SECONDS * 1_000_000
    behind = answer is None or any(at > answer.at for at, _, _ in held)
    # Fresh for a while after it was computed, not read: a computation slower than the window
    # (a big batch on a busy database) must not make every poll compute.
    if behind or now - answer.done >= fresh_for:
        # One thread of the process computes; the others serve the answer it replaces meanwhile,
        # unless they have none or the client holds a newer one.
        claimed = _claim(key)
        if claimed or behind:
            try:
                visible, value = compute()
                answer = Answer(now, clock(), visible, value, digest(value))
                cache.set(key, answer, KEEP_SECONDS)
            finally:
                if claimed:
                    _computing.discard(key)
    same = [tag for _, tag_digest, tag in held if tag_digest == answer.digest]
    return answer, same[0] if same else answer.etag(name)


_computing: set[str] = set()  # the keys this process's threads are computing now
_claiming = threading.Lock()


def _claim(key: str) -> bool:
    with _claiming:
        if key in _computing:
            return False
        _computing.add(key)
        return True


def _held(name: str, if_none_match: str | None, now: int) -> list[tuple[int, str, str]]:
    """(at, digest, tag) of the client's tags of `name`. A tag from the future (none of ours)
    would force a computation on every poll: it is ignored."""
    held = []
    for tag in parse_etags(if_none_match or ""):
        parts = tag.removeprefix("W/").strip('"').split(":")
        if len(parts) == 3 and parts[0] == name and parts[1].isdigit() and int(parts[1]) <= now:
            held.append((int(parts[1]), parts[2], tag))
    return held


def batch_status_answer(batch: Batch, user, if_none_match: str | None = None) -> StatusAnswer:
    """The documented batch-status answer of a batch as `user` may see it; NotFound when they
    may see nothing of it (as `batches.api.batch_for`: it touches their companies or they pushed
    it), with or without If-None-Match."""
    scope = BatchScope.of(batch, user)

    def compute() -> tuple[bool, tuple[dict, bytes]]:
        status = status_of(batch, scope.runs(batch), scope.refusals(batch))
        body = status_body(status)
        # Rendered once here, not by every poll (up to FAILURES_SHOWN failures with their errors).
        return visible(scope, status), (body, JSONRenderer().render(body))

    key = f"batch-status:{batch.pk}:{scope.key}"
    answer, etag = fresh_answer(key, batch.batch_id, if_none_match, compute)
    if not answer.visible:
        raise NotFound(f"No batch {batch.batch_id}.")
    body, content = answer.value
    return StatusAnswer(body, etag, content)


def visible(scope: BatchScope, status: BatchStatus) -> bool:
    """Batch.visible_to for a scope: the pusher and staff see it; a CSM when a run or a refused
    role of it is of their companies."""
    return scope.whole or bool(status.total or status.refused)


def batch_status_body(batch: Batch, user) -> dict:
    """The answer read plainly for one user (what the cached answers must equal)."""
    return status_body(batch_status(batch, user))


def status_body(status: BatchStatus) -> dict:
    batch = status.batch
    return {
        "batch_id": batch.batch_id,
        "total": status.total,
        "counts": {k.lower(): v for k, v in status.counts.items()},
        "refused": status.refused,
        "percent_done": status.percent_done,
        "started_at": status.started_at,
        "finished_at": status.finished_at,
        "estimated_seconds_left": status.seconds_left,
        "failed": [
            {
                "workflow_id": r.workflow_id,
                "role_name": r.role.name,
                "company_id": r.role.company.name,
                "step": (r.error or {}).get("step"),
                "error": r.error or {},
            }
            for r in status.failures
        ],
    }


def batch_by(**lookup) -> Batch | None:
    """The batch by its id or pk (one indexed query), remembered for the freshness time."""
    fresh = settings.BATCH_STATUS_FRESH_SECONDS
    cache = caches["status"]
    key = "batch:" + digest(sorted(lookup.items()))  # a batch id is whatever the client sent
    batch = cache.get(key)
    if batch is None:
        batch = Batch.objects.filter(**lookup).first()
        if batch is not None and fresh > 0:
            cache.set(key, batch, fresh)
    return batch
