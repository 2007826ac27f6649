"""Faces of the operations app: the stats API, /metrics, the CSM's inbox. Thin: read a
selector or call a service, answer."""

from __future__ import annotations

import hmac
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import CollectorRegistry
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from onboarding.api.serializers import ErrorOut
from onboarding.http import AuthenticatedHttpRequest

from . import services
from .metrics import PipelineCollector
from .models import InboxItem
from .stats import Window, pipeline_stats

WINDOWS = {"m": "minutes", "h": "hours", "d": "days"}


def sees_everything(user) -> bool:
    return bool(
        user
        and user.is_active
        and user.is_staff
        and (user.is_superuser or user.has_perm("onboarding.view_all_companies"))
    )


class IsOperator(BasePermission):
    """Stats span every company: staff who may see every company (reference 004: admin only)."""

    message = "Pipeline statistics are for staff who may see every company."

    def has_permission(self, request, view) -> bool:
        return sees_everything(request.user)


class StatsQuery(serializers.Serializer):
    window = serializers.RegexField(
        r"^\d{1,4}[mhd]$", required=False, help_text="e.g. 30m, 24h, 7d (default 24h)"
    )
    since = serializers.DateTimeField(required=False)
    until = serializers.DateTimeField(required=False)

    def validate(self, data: dict) -> Window:
        until = data.get("until") or timezone.now()
        if "since" in data:
            since = data["since"]
        else:
            window = data.get("window", "24h")
            since = until - timedelta(**{WINDOWS[window[-1]]: int(window[:-1])})
        if since >= until:
            raise serializers.ValidationError({"since": "must be before until"})
        return Window(since=since, until=until)


class PipelineStatsApi(APIView):
    permission_classes = [IsOperator]

    @extend_schema(
        parameters=[StatsQuery],
        summary="Pipeline statistics for a time window (staff who see every company)",
        responses={200: dict, **{code: ErrorOut for code in (400, 401, 403, 413, 429)}},
    )
    def get(self, request):
        query = StatsQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(pipeline_stats(query.validated_data))


def metrics_view(request: HttpRequest) -> HttpResponse:
    if not (_bearer_ok(request) or sees_everything(getattr(request, "user", None))):
        response = HttpResponse("Send 'Authorization: Bearer <METRICS_TOKEN>'.\n", status=401)
        response["WWW-Authenticate"] = "Bearer"
        return response
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PipelineCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


def _bearer_ok(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


# --- the inbox --------------------------------------------------------------------------------


@login_required
def inbox(request: AuthenticatedHttpRequest) -> HttpResponse:
    items = InboxItem.objects.filter(user=request.user).select_related("event")
    show = request.GET.get("show", "unread")
    if show != "all":
        items = items.filter(read_at__isnull=True)
    return render(request, "operations/inbox.html", {"items": items[:200], "show": show})


@login_required
@require_POST
def inbox_read(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(InboxItem, pk=pk, user=request.user)
    services.inbox_item_mark_read(item=item, user=request.user)
    return redirect(request.POST.get("next") or "operations-inbox")


@login_required
@require_POST
def inbox_read_all(request: AuthenticatedHttpRequest) -> HttpResponse:
    services.inbox_mark_all_read(user=request.user)
    return redirect("operations-inbox")
