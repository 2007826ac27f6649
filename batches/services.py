"""Batches: one push of many roles, recorded; each role's run stays independent."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.db.models import F

from batches.models import Batch, BatchRefusal, BatchSource
from onboarding.errors import AppError
from onboarding.models import Role, RoleDocument, RunStatus
from onboarding.names import name_key
from onboarding.services import roles_push


def batch_push(
    *,
    role_ids: Iterable[int],
    user=None,
    source: str = BatchSource.ADMIN,
    name: str = "",
    options: dict | None = None,
    refusals: Iterable[tuple[str, str, AppError, dict]] = (),
    into: Batch | None = None,
    created: Iterable[tuple[Role, list[RoleDocument]]] = (),
) -> Batch:
    """Queue many roles as one batch, in a constant number of queries. Roles that cannot go
    are recorded on the batch with the reason; so are `refusals`, the (company, role name,
    error, what was sent) of items the intake refused before they became roles. The rest are queued.

    `into`: the next round of that batch instead of a new one (a fix-and-retry import): its
    refusals of the roles given now are replaced by what happens to them this time.
    `created`: roles among them that the caller's transaction has just created (roles_push)."""
    ids = list(dict.fromkeys(role_ids))
    refusals = list(refusals)
    if not ids and into is None:
        raise AppError("VALIDATION_ERROR", "Select at least one role to push.")
    with transaction.atomic():
        if into is None:
            requested = len(ids) + len(refusals)
            batch = Batch.objects.create(created_by=user, source=source, name=name, requested=requested)
        else:
            batch = _next_round(into, ids, refusals)
        report = roles_push(
            role_ids=ids, user=user, options=options, batch_key=batch.batch_id, created=created
        )
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
                sent={k: _storable(str(v), 255) for k, v in sent.items() if v},
            )
            for c, r, error, sent in refusals
        ]
        for row in rows:
            row.round = batch.round
        BatchRefusal.objects.bulk_create(rows)
    return batch


def _next_round(batch: Batch, role_ids: list[int], refusals: list[tuple[str, str, AppError, dict]]) -> Batch:
    """The batch's next round: the earlier refusals of the roles in it are superseded."""
    Batch.objects.filter(pk=batch.pk).update(round=F("round") + 1)
    batch.refresh_from_db(fields=["round"])
    names = {(name_key(c), name_key(r)) for c, r, _, _ in refusals}
    names |= {
        (name_key(c), name_key(r))
        for c, r in Role.objects.filter(pk__in=role_ids).values_list("company__name", "name")
    }
    # A fixed row may have changed its company (it was unknown): the role's name is enough.
    role_names = {role for _, role in names}
    superseded = [
        pk
        for pk, role_id, role in batch.refusals.values_list("pk", "role_id", "role_name")
        if role_id in role_ids or name_key(role) in role_names
    ]
    BatchRefusal.objects.filter(pk__in=superseded).delete()
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
