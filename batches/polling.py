"""GET batch-status for many pollers: the answer for a batch is cached by a fingerprint of its
runs (how many, and the sum of their versions) that one aggregate query reads per request.

Every write that changes a run's status bumps its version, and versions only grow, so the sum
grows with every change and a cached answer is never older than the database at the time of
the request, in any process. The time left is an estimate from the completion rate of the
last minutes: it is recomputed every ESTIMATE_BUCKET_SECONDS (the bucket is part of the key).
"""

from __future__ import annotations

import time

from django.core.cache import caches
from django.db.models import Count, Sum

from batches.models import Batch, sees_every_company
from batches.selectors import batch_status
from onboarding.models import Company
from onboarding.polling import StatusAnswer, digest

ANSWER_CACHE_SECONDS = 600
ESTIMATE_BUCKET_SECONDS = 5


def batch_fingerprint(batch: Batch, user) -> tuple[int, int, int]:
    """(runs, sum of their versions, time bucket) of the runs `user` may see: changes whenever
    the batch's status as they see it can."""
    visible = batch.runs_visible_to(user)
    fingerprint = visible.aggregate(runs=Count("id"), versions=Sum("version"))
    return fingerprint["runs"], fingerprint["versions"] or 0, int(time.time() // ESTIMATE_BUCKET_SECONDS)


def _scope(user) -> str:
    """Which companies an answer covers: users who see the same companies share answers."""
    if sees_every_company(user):
        return "all"
    ids = Company.objects.visible_to(user).order_by("pk").values_list("pk", flat=True)
    return f"{user.pk}:" + digest(tuple(ids))


def batch_status_answer(batch: Batch, user) -> StatusAnswer:
    """The documented batch-status answer of a batch, as `user` may see it (see `batch_for`)."""
    runs, versions, bucket = batch_fingerprint(batch, user)
    key = f"batch-status:{batch.pk}:{_scope(user)}:{runs}:{versions}:{bucket}"
    cache = caches["status"]
    body = cache.get(key)
    if body is None:
        body = batch_status_body(batch, user)
        cache.set(key, body, ANSWER_CACHE_SECONDS)
    return StatusAnswer(body, f'W/"{batch.batch_id}:{runs}:{versions}:{digest(body)}"')


def batch_status_body(batch: Batch, user) -> dict:
    status = batch_status(batch, user)
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
