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
    refusals: Iterable[tuple[str, str, AppError]] = (),
) -> Batch:
    """Queue many roles as one batch, in a constant number of queries. Roles that cannot go
    are recorded on the batch with the reason; so are `refusals`, the (company, role name,
    error) of items the intake refused before they became roles. The rest are queued."""
    ids = list(dict.fromkeys(role_ids))
    refusals = list(refusals)
    if not ids:
        raise AppError("VALIDATION_ERROR", "Select at least one role to push.")
    with transaction.atomic():
        requested = len(ids) + len(refusals)
        batch = Batch.objects.create(created_by=user, source=source, name=name, requested=requested)
        report = roles_push(role_ids=ids, user=user, options=options, batch_key=batch.batch_id)
        found = {role.pk for role, _ in report.refused} | {run.role_id for run in report.runs}
        rows = [_refusal(batch, role, error) for role, error in report.refused]
        rows += [
            BatchRefusal(batch=batch, code="NOT_FOUND", message=f"No role with id {pk}.")
            for pk in ids
            if pk not in found
        ]
        rows += [
            BatchRefusal(
                batch=batch,
                company_name=_storable(c, 200),
                role_name=_storable(r, 255),
                code=error.code,
                message=error.message,
            )
            for c, r, error in refusals
        ]
        BatchRefusal.objects.bulk_create(rows)
    return batch


def _storable(text: str, length: int) -> str:
    """A refused item's name as the database can keep it: refused for a NUL byte or its
    length, it must still be recorded, so NUL shows as U+FFFD and the rest is cut."""
    return text.replace("\x00", "\ufffd")[:length]


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
