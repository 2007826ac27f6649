"""Server-rendered status pages a CSM watches: a role, a company, and an index (batches add
their own page and panels: batches/pages.py).
Each live part is a small partial that the page re-fetches every few seconds while work is in
flight (static/etter/poll.js), and stops fetching once it has ended."""

from __future__ import annotations

import csv

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.cache import caches
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils.crypto import salted_hmac
from django.utils.module_loading import import_string
from django.views.decorators.cache import cache_control
from django.views.decorators.http import condition, require_POST
from django_fsm_log.models import StateLog

from onboarding import services
from onboarding.budgets import used_this_month
from onboarding.errors import AppError
from onboarding.explain import STATE_TEXT, fix_for
from onboarding.input_changes import InputChanges, changes_since_assessment
from onboarding.models import Company, Role, RoleState
from onboarding.page_polling import role_head, role_live_etag
from onboarding.polling import place_in_queue
from onboarding.selectors import companies_with_rollup, company_rollup, lacks_enhancements, missing_sections

POLL_SECONDS = 3


def _panels(page: str, request: HttpRequest, **kwargs) -> list[dict]:
    """Sections that other apps add to a page, named in settings.STATUS_PAGE_PANELS: the site
    composes its apps, so this page lists batches without knowing what a batch is. Each
    panel is a callable returning its context, with "template" naming what renders it."""
    return [import_string(name)(request, **kwargs) for name in settings.STATUS_PAGE_PANELS.get(page, [])]


@login_required
def index(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "status/index.html",
        {
            "companies": companies_with_rollup(request.user),
            "panels": _panels("index", request),
        },
    )


# --- a role ----------------------------------------------------------------------------------


def _role(request: HttpRequest, pk: int) -> Role:
    return get_object_or_404(
        Role.objects.visible_to(request.user).select_related("company", "last_run"), pk=pk
    )


def _role_context(request: HttpRequest, role: Role) -> dict:
    run = role.last_run
    steps = list(run.steps.all()) if run else []
    attempts = list(run.attempts.all()) if run else []
    for step in steps:  # the latest attempt says where the step stands, in words
        step.last_attempt = next((a for a in reversed(attempts) if a.step == step.name), None)
    done = sum(s.status == "completed" for s in steps)
    tasks = sorted((role.assessment or {}).get("tasks") or [], key=lambda t: -t.get("automation_score", 0))
    can_push = request.user.has_perm("onboarding.push_role")
    changes = _changes(role)
    return {
        "role": role,
        "changes": changes,
        # A STALE role keeps its last assessment on show, marked out of date.
        "assessment_current": role.state in (RoleState.READY, RoleState.DEGRADED) and not changes,
        "run": run,
        "steps": steps,
        "attempts": attempts,
        "done": done,
        "total": len(steps),
        "progress_text": f"{done} of {len(steps)} steps",
        "explanation": STATE_TEXT[role.state],
        "fix": fix_for(run.error) if run and run.error else None,
        "position": place_in_queue(run.pk, run.status, role.company_id) if run else None,
        "top_tasks": tasks[:3],
        "history": StateLog.objects.for_(role).select_related("by").order_by("-timestamp", "-id")[:20],
        "in_flight": role.in_flight,
        "poll_seconds": POLL_SECONDS,
        "can_push": can_push and role.state in (RoleState.DRAFT, RoleState.STALE, RoleState.VALIDATION_ERROR),
        "can_retry": can_push and role.state in (RoleState.FAILED, RoleState.DEGRADED),
        "can_cancel": can_push and role.in_flight,
        # Issue 11: the sections a DEGRADED role lacks, and enhancements a READY role never ran.
        "missing_sections": missing_sections(steps) if not role.in_flight else [],
        "can_enhance": can_push and role.state == RoleState.READY and lacks_enhancements(steps),
    }


def _changes(role: Role) -> InputChanges | None:
    """What changed since the last assessment: always for a STALE role, for a DEGRADED one
    only when something did."""
    if role.state not in (RoleState.STALE, RoleState.DEGRADED):
        return None
    changes = changes_since_assessment(role)
    if changes and role.state == RoleState.DEGRADED and not changes.anything:
        return None
    return changes


@login_required
def role_page(request: HttpRequest, pk: int) -> HttpResponse:
    role = _role(request, pk)
    return render(request, "status/role.html", _role_context(request, role))


def _role_etag(request: HttpRequest, pk: int) -> str:
    """One query (onboarding/page_polling.py); a 404 for another company's role, as for a missing
    one, with or without If-None-Match."""
    head = role_head(request.user, pk)
    if head is None:
        raise Http404("No role matches the given query.")
    request.role_live_etag = role_live_etag(request.user, head)  # type: ignore[attr-defined]
    return request.role_live_etag  # type: ignore[attr-defined]


# The partial as rendered for an ETag (which names the viewer, their permission and time zone,
# and everything the partial shows), with a stand-in for the viewer's CSRF token that each
# answer replaces: a poller that does not send If-None-Match gets the same HTML without it being
# rendered again (a render cost 20 ms). Kept briefly: the ETag is the key, the time only frees memory.
ROLE_LIVE_HTML_SECONDS = 60
_CSRF_STAND_IN = "csrf" + salted_hmac("onboarding.status_pages.role_live", "csrf stand-in").hexdigest()[:32]


# Polled every few seconds by each open page: a browser sends back the ETag (fetch revalidates
# a `no-cache` answer by itself) and gets 304 without the page being rendered again.
@login_required
@cache_control(private=True, no_cache=True)
@condition(etag_func=_role_etag)
def role_live(request: HttpRequest, pk: int) -> HttpResponse:
    key = f"role-live:{request.role_live_etag}"  # type: ignore[attr-defined]
    html = caches["status"].get(key)
    if html is None:
        context = _role_context(request, _role(request, pk))
        context["csrf_token"] = _CSRF_STAND_IN
        html = render_to_string("status/_role_live.html", context)
        caches["status"].set(key, html, ROLE_LIVE_HTML_SECONDS)
    return HttpResponse(html.replace(_CSRF_STAND_IN, get_token(request)))


@login_required
@require_POST
def role_action(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    role = _role(request, pk)
    try:
        if action == "push":
            run = services.role_push(role=role, user=request.user)
            messages.success(request, f"Pushed {role.name} to Etter (run {run.workflow_id}).")
        elif action == "retry":
            services.role_retry(role=role, user=request.user)
            messages.success(request, f"Retrying {role.name} from the step that failed.")
        elif action == "enhance":
            services.role_run_enhancements(role=role, user=request.user)
            messages.success(
                request, f"Running the enhancement workflows of {role.name} (no new assessment)."
            )
        elif action == "cancel":
            services.role_cancel(role=role, user=request.user)
            messages.success(request, f"Cancelled the push of {role.name}.")
        else:
            messages.error(request, "Unknown action.")
    except AppError as error:
        messages.error(request, error.message)
    return redirect("status-role", pk=role.pk)


# --- a company -------------------------------------------------------------------------------


def _company(request: HttpRequest, pk: int) -> Company:
    return get_object_or_404(Company.objects.visible_to(request.user), pk=pk)


@login_required
def company_page(request: HttpRequest, pk: int) -> HttpResponse:
    company = _company(request, pk)
    attention = (
        Role.objects.filter(company=company, state__in=["FAILED", "VALIDATION_ERROR", "DEGRADED", "STALE"])
        .select_related("last_run")
        .order_by("name")[:100]
    )
    return render(
        request,
        "status/company.html",
        {
            "company": company,
            "rollup": company_rollup(company),
            "can_push": request.user.has_perm("onboarding.push_role"),
            "attention": attention,
            "panels": _panels("company", request, company=company),
            "tokens_this_month": used_this_month([company.pk]).get(company.pk, 0),
        },
    )


@login_required
@require_POST
def company_reassess_stale(request: HttpRequest, pk: int) -> HttpResponse:
    company = _company(request, pk)
    try:
        report = services.companies_reassess_stale(company_ids=[company.pk], user=request.user)
    except AppError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Queued {len(report.runs)} stale roles for a new assessment.")
        if report.refused:
            messages.error(request, f"{len(report.refused)} could not go: see each role's page.")
    return redirect("status-company", pk=company.pk)


class _Echo:
    def write(self, value: str) -> str:
        return value


@login_required
def company_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    """Every role's status, for sending to the customer; streamed, so 2,500 roles cost little."""
    company = _company(request, pk)
    writer = csv.writer(_Echo())
    roles = Role.objects.filter(company=company).select_related("last_run").order_by("name")

    def rows():
        yield writer.writerow(
            [
                "role",
                "state",
                "what it means",
                "reason",
                "ai_automation_score",
                "dashboard_url",
                "ready_at",
                "workflow_id",
            ]
        )
        for role in roles.iterator(chunk_size=1000):
            yield writer.writerow(
                [
                    role.name,
                    role.get_state_display(),
                    STATE_TEXT[role.state],
                    role.state_reason,
                    role.ai_automation_score if role.ai_automation_score is not None else "",
                    role.dashboard_url,
                    role.ready_at.isoformat() if role.ready_at else "",
                    role.last_run.workflow_id if role.last_run else "",
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{company.name} roles.csv"'
    return response
