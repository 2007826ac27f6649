"""A batch's status page, its live partial and its retry button, plus the "Recent batches"
panels that the index and company pages show (settings.STATUS_PAGE_PANELS). Every face shows
only the runs and refusals of the companies the viewer may see."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from batches.models import Batch
from batches.polling import batch_by, fresh_answer, visible
from batches.scope import BatchScope
from batches.selectors import failure_groups, finished_per_minute, retrying_runs, status_of
from batches.services import batch_retry_failed
from onboarding.errors import AppError
from onboarding.models import Company, RunStatus
from onboarding.polling import StatusAnswer
from onboarding.selectors import token_usage
from onboarding.status_pages import POLL_SECONDS
from onboarding.timeline import batch_step_progress

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


def _batch_context(batch: Batch, scope: BatchScope, can_push: bool) -> dict:
    """What the batch's page and live partial show, for everyone of `scope` (no user: the
    partial's HTML is shared by everyone who sees the same)."""
    status = status_of(batch, scope.runs(batch), scope.refusals(batch))
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
    usage = token_usage(scope.steps(batch))
    step_rows = batch_step_progress(scope.steps(batch))
    for i, row in enumerate(step_rows):
        row["y"] = i * 22
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
        "refusals": scope.refusals(batch).select_related("role")[:REFUSALS_SHOWN],
        "poll_seconds": POLL_SECONDS,
        "progress_text": f"{status.percent_done:g}% finished: "
        + ", ".join(f"{o['n']} {o['label'].lower()}" for o in outcomes if o["n"]),
        "can_retry": can_push and (needs_you or engineer),
        "tokens": {"usage": usage, "total": usage["input_tokens"] + usage["output_tokens"]},
        "step_rows": step_rows,
        "step_height": len(step_rows) * 22 + 4,
    }


@login_required
def batch_page(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    can_push = request.user.has_perm("onboarding.push_role")
    context = _batch_context(batch, BatchScope.of(batch, request.user), can_push)
    return render(request, "batches/batch.html", context)


# Rendered once for everyone of a scope, the partial holds this in place of the viewer's own
# CSRF token (its retry form), which each response puts back: a token is never shared. The same
# in every server process (their answers' digests, hence ETags, agree), and not guessable.
_CSRF_PLACEHOLDER = "csrf" + salted_hmac("batches.pages.batch_live", "csrf placeholder").hexdigest()[:32]


@login_required
@cache_control(private=True, no_cache=True)
def batch_live(request: HttpRequest, pk: int) -> HttpResponse:
    """The partial, rendered at most once per BATCH_STATUS_FRESH_SECONDS for everyone who sees
    the same (scope, time zone, may retry), with the ETag/304 of batches/polling.py; a 304 does
    not render. A batch the viewer may not see is a 404, with or without If-None-Match."""
    batch = batch_by(pk=pk)
    if batch is None:
        raise Http404
    scope = BatchScope.of(batch, request.user)
    can_push = request.user.has_perm("onboarding.push_role")
    zone = timezone.get_current_timezone_name()

    def compute() -> tuple[bool, str]:
        context = _batch_context(batch, scope, can_push)
        if not visible(scope, context["status"]):
            return False, ""
        context["csrf_token"] = _CSRF_PLACEHOLDER
        return True, render_to_string("batches/_batch_live.html", context)

    key = f"batch-live:{batch.pk}:{scope.key}:{zone}:{int(can_push)}"
    answer, etag = fresh_answer(key, f"live-{batch.pk}", request.headers.get("If-None-Match"), compute)
    if not answer.visible:
        raise Http404
    if StatusAnswer(answer.value, etag).not_modified(request.headers.get("If-None-Match")):
        response: HttpResponse = HttpResponseNotModified()
    else:
        html = answer.value
        if _CSRF_PLACEHOLDER in html:
            html = html.replace(_CSRF_PLACEHOLDER, get_token(request))
        response = HttpResponse(html)
    response["ETag"] = etag
    return response


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
