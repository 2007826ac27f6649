"""/api/v1/pipeline/ batch endpoints: push-batch, batch-status, retry-failed. A CSM sees and
acts on only the runs and refusals of their companies, in every answer."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from batches import serializers as s
from batches.models import Batch, BatchSource
from batches.polling import batch_status_answer
from batches.services import batch_push, batch_retry_failed
from onboarding.api.views import ERRORS, IF_NONE_MATCH, USE_MOCK, _conditional, _options, _push_request
from onboarding.errors import NotFound, ValidationFailed
from onboarding.intake import roles_for_requests


class PushBatchApi(APIView):
    @extend_schema(
        request=s.PushBatchIn,
        responses={200: s.PushBatchOut, **ERRORS},
        parameters=[USE_MOCK],
        summary="Push many roles as one batch",
    )
    def post(self, request):
        data = s.PushBatchIn(data=request.data)
        data.is_valid(raise_exception=True)
        items = [_push_request(item) for item in data.validated_data["roles"]]
        options = _options(request, data.validated_data)
        roles, errors = roles_for_requests(user=request.user, requests=items)
        if not roles:
            raise ValidationFailed(
                "None of the roles could be found or created: " + next(iter(errors.values())).message
            )
        batch = batch_push(
            role_ids=[r.pk for r in roles.values()],
            user=request.user,
            source=BatchSource.API,
            name=f"{len(items)} roles from the API",
            options=options,
        )
        runs = dict(batch.runs.values_list("role_id", "workflow_id"))
        reasons = {r.role_id: r for r in batch.refusals.only("role_id", "code", "message")}
        accepted, refused = [], []
        for i, item in enumerate(items):
            role = roles.get(i)
            if role is not None and role.pk in runs:
                accepted.append(
                    {"company_id": item.company_id, "role_name": item.role_name, "workflow_id": runs[role.pk]}
                )
            else:
                error = errors.get(i) or reasons[role.pk]
                refused.append(
                    {
                        "company_id": item.company_id,
                        "role_name": item.role_name,
                        "error": error.code,
                        "reason": error.message,
                    }
                )
        answer = {"batch_id": batch.batch_id, "accepted": accepted, "refused": refused}
        return Response(s.PushBatchOut(answer).data)


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
        return _conditional(request, batch_status_answer(batch_for(request.user, batch_id), request.user))


class RetryFailedApi(APIView):
    @extend_schema(
        request=None,
        responses={200: s.RetryFailedOut, **ERRORS},
        summary="Retry a batch's failed roles (those of the companies you see)",
    )
    def post(self, request, batch_id: str):
        retried, refused = batch_retry_failed(batch=batch_for(request.user, batch_id), user=request.user)
        return Response(s.RetryFailedOut({"batch_id": batch_id, "retried": retried, "refused": refused}).data)
