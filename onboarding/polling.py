"""GET status for many pollers at once: one indexed query per request, the rest from a cache
keyed by the run's version, and a validator (ETag) so an unchanged run answers 304.

Every write that changes what a run's status shows bumps `Run.version` in the same
transaction. A process reads the head (version, role, scope) fresh from the database on every
request, and takes the run's own part for that exact version from its cache, or builds it
from the database and checks the version did not move while it read. So a process never
serves an answer older than the database's version at the time of the request, and several
gunicorn processes, each with its own cache, agree: a poller never sees a step go backwards.
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.core.cache import caches
from django.utils import timezone
from django.utils.http import parse_etags
from rest_framework.utils.encoders import JSONEncoder

from onboarding.api.serializers import RunCoreOut, StatusHeadOut, StatusOut
from onboarding.errors import NotFound
from onboarding.models import Run, RunAttempt, RunStatus, RunStep
from onboarding.selectors import (
    StatusHead,
    estimated_duration_seconds,
    queue_position,
    run_for,
    status_core,
    status_head,
)

# A queued run's place changes as other runs start, without its own version changing. Counting
# the runs ahead costs as many rows as the queue is long (2,500 after a big push), for every
# poll: instead each process reads a company's queue order at most this often.
QUEUE_ORDER_SECONDS = 1.0
ATTEMPTS = 3  # reads before giving up on caching a run that changes while it is read
# The parts of an answer that change without the run's version: the ETag covers them too.
UNVERSIONED = (
    "role_id",
    "company_id",
    "role_name",
    "status",
    "estimated_duration_seconds",
    "position_in_queue",
    "dashboard_url",
)


@dataclass(frozen=True)
class StatusAnswer:
    body: dict
    etag: str | None
    # The body as DRF's JSONRenderer writes it, when it was cheaper to assemble than to render.
    content: bytes | None = None

    def not_modified(self, if_none_match: str | None) -> bool:
        """True when the client already holds this answer (weak comparison, RFC 9110)."""
        if not self.etag or not if_none_match:
            return False
        held = {tag.removeprefix("W/") for tag in parse_etags(if_none_match)}
        return "*" in held or self.etag.removeprefix("W/") in held


@dataclass(frozen=True)
class RunCore:
    """The part of a status answer that only the run's version decides, kept per version."""

    status: str  # the run's own (the answer says "stale" when its role changed since)
    body: dict  # RunCoreOut's answer
    json: dict[str, str]  # each of its keys' values as JSON text


# What DRF's JSONRenderer does (UNICODE_JSON, STRICT_JSON and COMPACT_JSON at their defaults,
# which this project keeps), value by value: an answer assembled from these texts is
# byte for byte the one it would render (tests/test_polling.py checks it).
_to_json = partial(json.dumps, cls=JSONEncoder, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def json_text(value) -> str:
    return _to_json(value).replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


# DRF builds a serializer's fields on every instantiation (about 0.3 ms); a bound instance's
# to_representation depends only on its argument, so the poll path keeps one of each.
_CORE_OUT, _HEAD_OUT = RunCoreOut(), StatusHeadOut()
_ORDER = tuple(StatusOut._declared_fields)  # the documented order of the answer's keys
_KEY_TEXT = {key: json_text(key) for key in _ORDER}


def run_core(run: Run, steps: list, attempts: list) -> RunCore:
    raw = status_core(run, steps, attempts)
    # Times in the site's zone whoever asked first: the core is shared by every poller of the
    # run, and a page's viewer zone (onboarding/timezones.py) must not leak into their answers.
    with timezone.override(None):
        body = dict(_CORE_OUT.to_representation(raw))
    return RunCore(raw["status"], body, {key: json_text(value) for key, value in body.items()})


def status_body(head: StatusHead, core: RunCore, position: int | None) -> dict:
    """StatusOut's answer: the run's core (serialized once per version) with what changes without
    the run's version (its role, the estimate, the queue position), serialized now."""
    parts = {**_head_part(head, core, position), **core.body}
    return {key: parts[key] for key in _ORDER}


def status_content(head_part: dict, core: RunCore) -> bytes:
    """status_body as JSON, assembled from the core's JSON texts and the head's, in StatusOut's order."""
    texts = {**{key: json_text(value) for key, value in head_part.items()}, **core.json}
    return ("{" + ",".join(f"{_KEY_TEXT[key]}:{texts[key]}" for key in _ORDER) + "}").encode()


def _head_part(head: StatusHead, core: RunCore, position: int | None) -> dict:
    status = core.status
    if head.role_last_run_id == head.pk and head.role_state == "STALE":
        status = "stale"
    return _HEAD_OUT.to_representation(
        {
            "workflow_id": head.workflow_id,
            "role_id": head.role_id,
            "company_id": head.company_name,
            "role_name": head.role_name,
            "status": status,
            "estimated_duration_seconds": estimated_duration_seconds(),
            "position_in_queue": position,
            "dashboard_url": (head.role_dashboard_url or None) if core.status == RunStatus.READY else None,
        }
    )


def run_status(run: Run) -> dict:
    """The plain path: StatusOut's answer for one run read whole (retry and cancel answer it, and
    a poll of a run that changes faster than it can be cached)."""
    core = run_core(run, list(run.steps.all()), list(run.attempts.all()))
    return status_body(StatusHead.of(run), core, queue_position(run))


def status_answer(user, workflow_id: str) -> StatusAnswer:
    """The run's status as the user may see it; NotFound for a run of another company."""
    for _ in range(ATTEMPTS):
        head = status_head(user, workflow_id)
        if head is None:
            raise NotFound(f"No run {workflow_id}.")
        core = _core(head)
        if core is not None:
            head_part = _head_part(head, core, _position(head))
            parts = {**head_part, **core.body}
            body = {key: parts[key] for key in _ORDER}
            return StatusAnswer(body, _etag(head, body), status_content(head_part, core))
    # A run that changes faster than it can be read: answer from a plain read, without a validator.
    return StatusAnswer(run_status(run_for(user, workflow_id)), None)


# The cores this process has built, by (workflow_id, version): a plain dict, not a Django cache,
# since a cache pickles what it keeps and unpickles it on every read, which cost more than the
# rest of a poll. A version never changes, so nothing here is ever out of date; the bound only
# keeps memory in check (the oldest entries go first).
_cores: dict[tuple[str, int], RunCore] = {}


def _core(head: StatusHead) -> RunCore | None:
    key = (head.workflow_id, head.version)
    core = _cores.get(key)
    if core is None:
        steps = list(RunStep.objects.raw(_read_sql("steps"), [head.pk]))
        attempts = list(RunAttempt.objects.raw(_read_sql("attempts"), [head.pk]))
        run = next(iter(Run.objects.raw(_read_sql("run"), [head.pk])), None)
        if run is None or run.version != head.version:
            return None  # it changed while we read: these rows may belong to a newer version
        core = run_core(run, steps, attempts)
        _keep(key, core)
    return core


# A run's version moves with every step the workers take, and each process then reads the run,
# its steps and its attempts again. Building those three queries cost the ORM about 1 ms each,
# more than running them: their SQL is built once per process, from the very querysets.
_READS = {
    "steps": lambda pk: RunStep.objects.filter(run_id=pk).order_by("position"),
    "attempts": lambda pk: RunAttempt.objects.filter(run_id=pk).order_by("id"),
    "run": lambda pk: Run.objects.filter(pk=pk),
}


@functools.cache
def _read_sql(name: str) -> str:
    sql, params = _READS[name](0).query.sql_with_params()
    assert params == (0,), params  # one parameter: the run's id
    return sql


def _keep(key: tuple[str, int], core: RunCore) -> None:
    while len(_cores) >= settings.STATUS_CACHE_ENTRIES:
        try:
            del _cores[next(iter(_cores))]  # dicts keep insertion order: the oldest
        except (KeyError, RuntimeError, StopIteration):  # another thread got there first
            break
    _cores[key] = core


_queue_orders: dict[int, tuple[float, dict[int, int]]] = {}  # company id: (read at, {run id: place})


def _position(head: StatusHead) -> int | None:
    return place_in_queue(head.pk, head.status, head.company_id)


def place_in_queue(run_id: int, status: str, company_id: int) -> int | None:
    """The run's place in its company's queue (1: next to start), as of at most
    QUEUE_ORDER_SECONDS ago; None when it is not waiting."""
    if status != RunStatus.QUEUED:
        return None
    read_at, order = _queue_orders.get(company_id, (0.0, {}))
    if time.monotonic() - read_at > QUEUE_ORDER_SECONDS or run_id not in order:
        read_at = time.monotonic()
        queued = (
            Run.objects.filter(status=RunStatus.QUEUED, role__company_id=company_id)
            .order_by("queue_key", "pk")
            .values_list("pk", flat=True)
        )
        order = {pk: place for place, pk in enumerate(queued, start=1)}
        _queue_orders[company_id] = (read_at, order)
    return order.get(run_id)


def forget() -> None:
    """Drop what this process remembers (tests start from a fresh server's state)."""
    from onboarding.api.auth import forget_tokens

    caches["status"].clear()
    forget_tokens()
    _cores.clear()
    _queue_orders.clear()


def _etag(head: StatusHead, body: dict) -> str:
    return f'W/"{head.workflow_id}:{head.version}:{digest([body[k] for k in UNVERSIONED])}"'


def digest(value) -> str:
    """A short, stable (across processes) digest of a value's repr, for ETags."""
    return hashlib.blake2b(repr(value).encode(), digest_size=6).hexdigest()
