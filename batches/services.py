"""Batches: one push of many roles, recorded; each role's run stays independent."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from batches.models import Batch, BatchRefusal, BatchSource
from onboarding.errors import AppError
from onboarding.models import Role, RunStatus
from onboarding.services import roles_push


def batch_push(
    *,
    role_ids: Iterable[int],
    user=None,
    source: str = BatchSource.ADMIN,
    name: str = "",
    options: dict | None = None,
) -> Batch:
    """Queue many roles as one batch, in a constant number of queries. Roles that cannot go
    are recorded on the batch with the reason; the rest are queued."""
    ids = list(dict.fromkeys(role_ids))
    if not ids:
        raise AppError("VALIDATION_ERROR", "Select at least one role to push.")
    with transaction.atomic():
        batch = Batch.objects.create(created_by=user, source=source, name=name, requested=len(ids))
        report = roles_push(role_ids=ids, user=user, options=options, batch_key=batch.batch_id)
        found = {role.pk for role, _ in report.refused} | {run.role_id for run in report.runs}
        refusals = [_refusal(batch, role, error) for role, error in report.refused]
        refusals += [
            BatchRefusal(batch=batch, code="NOT_FOUND", message=f"No role with id {pk}.")
            for pk in ids
            if pk not in found
        ]
        BatchRefusal.objects.bulk_create(refusals)
    return batch


def _refusal(batch: Batch, role: Role, error: AppError) -> BatchRefusal:
    return BatchRefusal(
        batch=batch,
        role=role,
        company_name=role.company.name,
        role_name=role.name,
        code=error.code,
        message=error.message,
    )


def batch_retry_failed(*, batch: Batch, user=None) -> tuple[int, int]:
    """Re-queue only the FAILED and DEGRADED roles of the batch that `user` may see (all of
    them for the system, user None), as runs of the same batch: each resumes at its failed
    step. Returns (retried, refused)."""
    runs = batch.runs_visible_to(user)
    role_ids = list(
        runs.filter(status__in=[RunStatus.FAILED, RunStatus.DEGRADED]).values_list("role_id", flat=True)
    )
    report = roles_push(
        role_ids=role_ids, user=user, reason=f"Retry of {batch.batch_id}", batch_key=batch.batch_id
    )
    return len(report.runs), len(report.refused)
