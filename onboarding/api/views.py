"""/api/v1/pipeline/*: each view validates, calls one service or selector, and answers."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from onboarding import services
from onboarding.api import serializers as s
from onboarding.api.push_input import on_existing, push_options, role_item
from onboarding.api.status_lane import conditional_response, with_validators
from onboarding.errors import NotFound, RoleExists, ValidationFailed
from onboarding.health import components_health
from onboarding.intake import Outcome, intake
from onboarding.models import Company, ProcessingStep, Role, RoleState, Run, RunStatus
from onboarding.models.role import allowed_transitions
from onboarding.pipeline.steps import STEPS
from onboarding.polling import StatusAnswer, run_status, status_answer
from onboarding.selectors import estimated_duration_seconds, queue_position, run_for

ERRORS = {
    400: s.ErrorOut,
    401: s.ErrorOut,
    403: s.ErrorOut,
    404: s.ErrorOut,
    409: s.ErrorOut,
    413: s.ErrorOut,
    429: s.ErrorOut,
}
USE_MOCK = OpenApiParameter("use_mock", bool, description="run against the built-in simulator", default=False)


class PushApi(APIView):
    @extend_schema(
        request=s.PushIn,
        responses={200: s.PushOut, **ERRORS},
        parameters=[USE_MOCK],
        summary="Push one role to Etter",
    )
    def post(self, request):
        data = s.PushIn(data=request.data)
        data.is_valid(raise_exception=True)
        options = push_options(request, data.validated_data)
        with transaction.atomic():  # the role is written only if its push is accepted
            report = intake(
                user=request.user,
                items=[role_item(data.validated_data)],
                on_existing=on_existing(options),
                push=True,
                stale_reason="Inputs changed by an API push",
            )
            result = report.results[0]
            if result.error is not None:
                raise result.error
            role = result.known_role
            if result.outcome == Outcome.SKIPPED:
                raise RoleExists(role)
            run = services.role_push(role=role, user=request.user, options=options)
        existing = f" (the existing role: {result.message})" if result.existed else ""
        how = services.how_it_runs(run)  # kept the company role, or from scratch
        answer = {
            "workflow_id": run.workflow_id,
            "role_id": str(role.pk),
            "role_outcome": result.outcome,
            "status": "queued",
            "estimated_duration_seconds": estimated_duration_seconds(),
            "position_in_queue": queue_position(run),
            "message": f"Workflow started for {role.name} at {role.company.name}{existing}{how}",
        }
        return Response(s.PushOut(answer).data)


IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    description="the ETag of an answer you hold: 304 Not Modified when the run has not changed",
)


def _conditional(request, answer: StatusAnswer) -> HttpResponse:
    """The answer, or 304 when the client holds it already (If-None-Match); with its ETag."""
    if _plain_json(request):  # what the status lane answers too, the same way
        return conditional_response(answer, request.headers.get("If-None-Match"))
    # The browsable API, or JSON indented on request: DRF renders it.
    not_modified = answer.not_modified(request.headers.get("If-None-Match"))
    return with_validators(Response(status=304) if not_modified else Response(answer.body), answer)


def _plain_json(request) -> bool:
    """The client takes compact JSON (not the browsable API, nor JSON indented on request)."""
    return isinstance(request.accepted_renderer, JSONRenderer) and "indent" not in request.accepted_media_type


class StatusApi(APIView):
    # The poll of a token this process knows is answered before it gets here, by
    # StatusLaneMiddleware (onboarding/api/status_lane.py): the same answer, found sooner.
    @extend_schema(
        responses={200: s.StatusOut, 304: None, **ERRORS},
        parameters=[IF_NONE_MATCH],
        summary="A run's status and progress",
    )
    def get(self, request, workflow_id: str):
        return _conditional(request, status_answer(request.user, workflow_id))


class HealthApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_classes = []

    @extend_schema(
        responses={200: s.HealthOut, 503: s.HealthOut}, summary="Health of the database, workers, draup-world"
    )
    def get(self, request):
        components = components_health()
        healthy = all(v in ("healthy", "simulator") for v in components.values())
        body = s.HealthOut(
            {
                "status": "healthy" if healthy else "unhealthy",
                "version": settings.SPECTACULAR_SETTINGS["VERSION"],
                "timestamp": timezone.now(),
                "components": components,
            }
        ).data
        return Response(body, status=200 if healthy else 503)


class CompaniesApi(APIView):
    @extend_schema(responses={200: s.CompaniesOut, **ERRORS}, summary="Companies you may see")
    def get(self, request):
        names = list(Company.objects.visible_to(request.user).values_list("name", flat=True))
        return Response(s.CompaniesOut({"companies": names, "total_count": len(names)}).data)


class RolesApi(APIView):
    @extend_schema(responses={200: s.RolesOut, **ERRORS}, summary="A company's roles")
    def get(self, request, company_name: str):
        company = Company.objects.visible_to(request.user).filter(name=company_name).first()
        if company is None:
            raise NotFound(f"No company named {company_name!r}.")
        roles = list(Role.objects.filter(company=company).order_by("name"))
        return Response(
            s.RolesOut({"company_name": company.name, "roles": roles, "total_count": len(roles)}).data
        )


class RetryApi(APIView):
    @extend_schema(
        request=None, responses={200: s.StatusOut, **ERRORS}, summary="Retry a failed or degraded run"
    )
    def post(self, request, workflow_id: str):
        run = services.run_retry(run=run_for(request.user, workflow_id), user=request.user)
        return Response(run_status(run_for(request.user, run.workflow_id)))  # StatusOut's answer


class CancelApi(APIView):
    @extend_schema(
        request=None, responses={200: s.CancelOut, **ERRORS}, summary="Cancel a queued or running push"
    )
    def post(self, request, workflow_id: str):
        run = services.run_cancel(run=run_for(request.user, workflow_id), user=request.user)
        body = run_status(run_for(request.user, run.workflow_id))
        abandoned = [a for a in body["attempts"] if a["outcome"] == "running"]
        message = "Cancelled: the run has ended and no further step will start."
        if abandoned:
            message += (
                f" The call under way ({abandoned[-1]['call'].replace('_', ' ')}) is being abandoned:"
                " its answer, if it comes, will be discarded."
            )
        return Response(s.CancelOut({**body, "message": message}).data)


class HistoryPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class HistoryApi(APIView):
    @extend_schema(
        responses={200: s.HistoryOut, **ERRORS},
        summary="A company's runs, newest first",
        parameters=[
            OpenApiParameter("status", str, enum=[v.lower() for v in RunStatus.values]),
            OpenApiParameter("page", int),
            OpenApiParameter("page_size", int),
        ],
    )
    def get(self, request, company_id: str):
        company = Company.objects.visible_to(request.user).filter(name=company_id).first()
        if company is None:
            raise NotFound(f"No company named {company_id!r}.")
        runs = Run.objects.filter(role__company=company).select_related("role").order_by("-queued_at", "-id")
        wanted = request.query_params.get("status")
        if wanted:
            if wanted.upper() not in RunStatus.values:
                raise ValidationFailed(
                    f"status must be one of {', '.join(v.lower() for v in RunStatus.values)}."
                )
            runs = runs.filter(status=wanted.upper())
        paginator = HistoryPagination()
        page = paginator.paginate_queryset(runs, request, view=self)
        assert paginator.page is not None, "HistoryPagination has a page size: there is a page"
        return Response(
            s.HistoryOut(
                {
                    "count": paginator.page.paginator.count,
                    "next": paginator.get_next_link(),
                    "previous": paginator.get_previous_link(),
                    "results": page,
                }
            ).data
        )


class MetadataApi(APIView):
    @extend_schema(
        responses={200: s.MetadataOut, **ERRORS}, summary="States, transitions and steps, for a UI"
    )
    def get(self, request):
        return Response(
            s.MetadataOut(
                {
                    "states": list(RoleState),
                    "transitions": allowed_transitions(),
                    "steps": STEPS,
                    "statuses": RunStatus.values,
                    "substates": [v for v in ProcessingStep.values if v],
                }
            ).data
        )
