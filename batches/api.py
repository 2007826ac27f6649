"""/api/v1/pipeline/ batch endpoints: push-batch, batch-status, retry-failed. A CSM sees and
acts on only the runs and refusals of their companies, in every answer."""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from batches import serializers as s
from batches.models import Batch, BatchSource
from batches.polling import batch_by, batch_status_answer
from batches.services import batch_push, batch_retry_failed
from onboarding.api.push_input import on_existing, push_options, role_item
from onboarding.api.views import ERRORS, IF_NONE_MATCH, USE_MOCK, _conditional
from onboarding.errors import NotFound, ValidationFailed
from onboarding.intake import IntakeReport, Outcome, intake, report_estimate

DRY_RUN = OpenApiParameter(
    "dry_run",
    bool,
    default=False,
    description="check every role and estimate the LLM tokens and cost, against each company's "
    "budget left this month; nothing is stored or queued",
)


class PushBatchApi(APIView):
    @extend_schema(
        request=s.PushBatchIn,
        responses={200: s.PushBatchOut, **ERRORS},
        parameters=[USE_MOCK, DRY_RUN],
        summary="Push many roles as one batch (or, with dry_run, what it would do and cost)",
    )
    def post(self, request):
        data = s.PushBatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        options = push_options(request, data.validated_data)
        items = [role_item(item) for item in data.validated_data["roles"]]
        if request.query_params.get("dry_run", "").lower() in ("1", "true", "yes"):
            return Response(s.PushBatchOut(_dry_run(request.user, items, options)).data)
        with transaction.atomic():
            report = intake(
                user=request.user,
                items=items,
                on_existing=on_existing(options),
                push=True,
                stale_reason="Inputs changed by an API batch push",
            )
            if not report.roles:
                first = next((r.error for r in report.refused if r.error), None)
                raise ValidationFailed(
                    "None of the roles can be pushed: "
                    + (first.message if first else "every one exists and on_existing is skip.")
                )
            batch = batch_push(
                role_ids=[role.pk for role in report.roles],
                user=request.user,
                source=BatchSource.API,
                name=f"{len(items)} roles from the API",
                options=options,
                created=report.created,
                refusals=[
                    (r.item.company, r.item.role_name, r.error, r.item.sent)
                    for r in report.refused
                    if r.error
                ],
            )
        return Response(s.PushBatchOut(_answer(batch, report)).data)


def _dry_run(user, items, options) -> dict:
    report = intake(user=user, items=items, on_existing=on_existing(options), push=True, dry_run=True)
    estimate = report_estimate(report)
    accepted, skipped, refused = [], [], []
    for result in report.results:
        item = {"company_id": result.item.company, "role_name": result.item.role_name}
        if result.outcome == Outcome.SKIPPED:
            skipped.append({**item, "role_id": str(result.known_role.pk), "reason": result.message})
        elif result.error is None:
            accepted.append({**item, "workflow_id": None, "role_outcome": result.outcome})
        else:
            refused.append({**item, "error": result.error.code, "reason": result.error.message})
    return {
        "batch_id": None,
        "dry_run": True,
        "accepted": accepted,
        "skipped": skipped,
        "refused": refused,
        "estimate": estimate.as_dict(),
    }


def _answer(batch: Batch, report: IntakeReport) -> dict:
    """Each item in the order sent: accepted (its run), skipped, or refused (why)."""
    runs = dict(batch.runs.values_list("role_id", "workflow_id"))
    pushed = {
        r.role_id: r for r in batch.refusals.filter(role__isnull=False).only("role_id", "code", "message")
    }
    accepted, skipped, refused = [], [], []
    for result in report.results:
        item = {"company_id": result.item.company, "role_name": result.item.role_name}
        role_id = result.role.pk if result.role else None
        if result.outcome == Outcome.SKIPPED:
            skipped.append({**item, "role_id": str(role_id), "reason": result.message})
        elif role_id in runs:
            accepted.append({**item, "workflow_id": runs[role_id], "role_outcome": result.outcome})
        else:
            error = result.error or pushed[role_id]
            refused.append({**item, "error": error.code, "reason": error.message})
    return {
        "batch_id": batch.batch_id,
        "dry_run": False,
        "accepted": accepted,
        "skipped": skipped,
        "refused": refused,
        "estimate": None,
    }


def batch_for(user, batch_id: str) -> Batch:
    """The batch, if `user` may see it (it touches their companies, or they pushed it)."""
    batch = Batch.objects.visible_to(user).filter(batch_id=batch_id).first()
    if batch is None:
        raise NotFound(f"No batch {batch_id}.")
    return batch


class BatchStatusApi(APIView):
    @extend_schema(
        responses={200: s.BatchStatusOut, 304: None, **ERRORS},
        parameters=[IF_NONE_MATCH],
        summary="A batch's counts, progress and failures, for the companies you see",
    )
    def get(self, request, batch_id: str):
        # No visibility query here: the cached answer for the user's scope says whether they see
        # the batch (batches/polling.py); one they may not see is the same 404 as a missing one.
        batch = batch_by(batch_id=batch_id)
        if batch is None:
            raise NotFound(f"No batch {batch_id}.")
        answer = batch_status_answer(batch, request.user, request.headers.get("If-None-Match"))
        return _conditional(request, answer)


class RetryFailedApi(APIView):
    @extend_schema(
        request=None,
        responses={200: s.RetryFailedOut, **ERRORS},
        summary="Retry a batch's failed roles (those of the companies you see)",
    )
    def post(self, request, batch_id: str):
        retried, refused = batch_retry_failed(batch=batch_for(request.user, batch_id), user=request.user)
        return Response(s.RetryFailedOut({"batch_id": batch_id, "retried": retried, "refused": refused}).data)
