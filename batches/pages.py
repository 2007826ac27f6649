"""A batch's status page, its live partial and its retry button, plus the "Recent batches"
panels that the index and company pages show (settings.STATUS_PAGE_PANELS). Every face shows
only the runs and refusals of the companies the viewer may see."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import condition, require_POST

from batches.models import Batch
from batches.polling import batch_fingerprint
from batches.selectors import batch_status, failure_groups, finished_per_minute, retrying_runs
from batches.services import batch_retry_failed
from onboarding.errors import AppError
from onboarding.models import Company, RunStatus
from onboarding.polling import digest
from onboarding.status_pages import POLL_SECONDS

RECENT_BATCHES = 10
REFUSALS_SHOWN = 200
CHART_LEFT, CHART_TOP, CHART_HEIGHT = 30, 6, 80  # room for the axes' labels


def _outcomes(status) -> list[dict]:
    """Where every role of the batch stands, as the segments of one bar: done, failed and
    refused are told apart, so "100% finished" never hides failures."""
    counts = status.counts
    parts = [
        ("ready", "Ready", counts[RunStatus.READY]),
        ("degraded", "Degraded", counts[RunStatus.DEGRADED]),
        ("failed", "Failed", counts[RunStatus.FAILED]),
        ("refused", "Refused", status.refused),
        ("in-flight", "In flight", status.in_flight),
    ]
    whole = sum(n for _, _, n in parts) or 1
    return [{"key": k, "label": label, "n": n, "percent": round(100 * n / whole, 2)} for k, label, n in parts]


def _recent(request: HttpRequest, batches) -> list[Batch]:
    batches = batches.select_related("created_by")[:RECENT_BATCHES]
    return [batch.as_seen_by(request.user) for batch in batches]


def recent_batches_panel(request: HttpRequest) -> dict:
    return {
        "template": "batches/_recent_batches.html",
        "batches": _recent(request, Batch.objects.visible_to(request.user)),
        "empty": 'No batches yet. Select roles in the admin and choose "Push to Etter as a batch".',
    }


def company_batches_panel(request: HttpRequest, company: Company) -> dict:
    keys = company.roles.values("runs__batch_key")
    return {
        "template": "batches/_recent_batches.html",
        "batches": _recent(request, Batch.objects.visible_to(request.user).filter(batch_id__in=keys)),
        "empty": "No batches for this company yet.",
    }


def _batch(request: HttpRequest, pk: int) -> Batch:
    batches = Batch.objects.visible_to(request.user).select_related("created_by")
    return get_object_or_404(batches, pk=pk).as_seen_by(request.user)


def _batch_context(request: HttpRequest, batch: Batch) -> dict:
    status = batch_status(batch, request.user)
    needs_you, engineer = failure_groups(status)
    waiting, retrying = retrying_runs(status)
    per_minute = finished_per_minute(status)
    peak = max((n for _, n in per_minute), default=1)
    bars = [
        {
            "x": CHART_LEFT + i * 24,
            "height": round(CHART_HEIGHT * n / peak),
            "y": CHART_TOP + CHART_HEIGHT - round(CHART_HEIGHT * n / peak),
            "minute": minute,
            "n": n,
        }
        for i, (minute, n) in enumerate(per_minute)
    ]
    outcomes = _outcomes(status)
    return {
        "batch": batch,
        "status": status,
        "needs_you": needs_you,
        "engineer": engineer,
        "retrying_count": waiting,
        "retrying": retrying,
        "bars": bars,
        "chart_width": CHART_LEFT + max(30, len(bars)) * 24,
        "chart": {"left": CHART_LEFT, "top": CHART_TOP, "bottom": CHART_TOP + CHART_HEIGHT, "peak": peak},
        "outcomes": outcomes,
        "refusals": batch.refusals_visible_to(request.user).select_related("role")[:REFUSALS_SHOWN],
        "poll_seconds": POLL_SECONDS,
        "progress_text": f"{status.percent_done:g}% finished: "
        + ", ".join(f"{o['n']} {o['label'].lower()}" for o in outcomes if o["n"]),
        "can_retry": request.user.has_perm("onboarding.push_role") and (needs_you or engineer),
    }


@login_required
def batch_page(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "batches/batch.html", _batch_context(request, _batch(request, pk)))


def _batch_etag(request: HttpRequest, pk: int) -> str:
    batch = _batch(request, pk)
    return digest(
        (
            request.user.pk,
            request.user.has_perm("onboarding.push_role"),
            batch.pk,
            *batch_fingerprint(batch, request.user),
        )
    )


@login_required
@cache_control(private=True, no_cache=True)
@condition(etag_func=_batch_etag)
def batch_live(request: HttpRequest, pk: int) -> HttpResponse:
    return render(request, "batches/_batch_live.html", _batch_context(request, _batch(request, pk)))


@login_required
@require_POST
def batch_retry(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    try:
        retried, refused = batch_retry_failed(batch=batch, user=request.user)
        messages.success(
            request, f"Retrying {retried} failed roles." + (f" {refused} could not go." if refused else "")
        )
    except AppError as error:
        messages.error(request, error.message)
    return redirect("status-batch", pk=batch.pk)


@login_required
def batch_by_key(request: HttpRequest, batch_key: str) -> HttpResponse:
    """A run names its batch by its public id (Run.batch_key): onboarding's pages link here."""
    batch = get_object_or_404(Batch.objects.visible_to(request.user), batch_id=batch_key)
    return redirect("status-batch", pk=batch.pk)
