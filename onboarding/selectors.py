"""Reads shared by the admin, the API and the status pages."""

from __future__ import annotations

from django.db.models import Q

from onboarding.models import Run, RunStatus


def queue_position(run: Run) -> int | None:
    """1 for the next run of its company to start; None when the run is not waiting."""
    if run.status != RunStatus.QUEUED:
        return None
    ahead = Run.objects.filter(
        Q(queued_at__lt=run.queued_at) | Q(queued_at=run.queued_at, pk__lt=run.pk),
        status=RunStatus.QUEUED,
        role__company_id=run.role.company_id,
    ).count()
    return ahead + 1


DEFAULT_DURATION_SECONDS = 600  # reference 001, before any run has finished here


def estimated_duration_seconds() -> int:
    """Median push -> READY time of the last 50 READY runs (one query)."""
    runs = Run.objects.filter(status=RunStatus.READY, started_at__isnull=False, finished_at__isnull=False)
    spans = sorted(
        (f - q).total_seconds()
        for q, f in runs.order_by("-finished_at").values_list("queued_at", "finished_at")[:50]
    )
    return max(1, round(spans[len(spans) // 2])) if spans else DEFAULT_DURATION_SECONDS


def run_for(user, workflow_id: str) -> Run:
    """The run, if the user may see its company; NotFound otherwise (existence does not leak)."""
    from onboarding.errors import NotFound
    from onboarding.models import Company

    run = (
        Run.objects.select_related("role__company", "batch")
        .prefetch_related("steps", "attempts")
        .filter(workflow_id=workflow_id, role__company__in=Company.objects.visible_to(user))
        .first()
    )
    if run is None:
        raise NotFound(f"No run {workflow_id}.")
    return run


def run_status(run: Run) -> dict:
    """The documented status shape of reference 001, from one run and its steps."""
    steps = list(run.steps.all())
    completed = [s for s in steps if s.status == "completed"]
    current = next((s.name for s in steps if s.status != "completed"), None) if run.in_flight else None
    role = run.role
    status = run.status.lower()
    if role.last_run_id == run.pk and role.state == "STALE":
        status = "stale"
    return {
        "workflow_id": run.workflow_id,
        "role_id": str(role.pk),
        "company_id": role.company.name,
        "role_name": role.name,
        "status": status,
        "current_step": current,
        "progress": {
            "current": len(completed),
            "total": len(steps),
            "steps": [
                {
                    "name": s.name,
                    "status": s.status,
                    "attempts": s.attempts,
                    "duration_ms": s.duration_ms,
                    "started_at": s.started_at,
                    "completed_at": s.finished_at if s.status == "completed" else None,
                }
                for s in steps
            ],
        },
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "completed_at": run.finished_at,
        "estimated_duration_seconds": estimated_duration_seconds(),
        "position_in_queue": queue_position(run),
        "next_attempt_at": run.next_attempt_at,
        "dashboard_url": (role.dashboard_url or None) if run.status == RunStatus.READY else None,
        "error": run.error,
        "attempts": [_attempt(a) for a in run.attempts.all()],
    }


def _attempt(a) -> dict:
    return {
        "step": a.step,
        "call": a.call,
        "round": a.round,
        "number": a.number,
        "max_attempts": a.max_attempts,
        "outcome": a.outcome,
        "started_at": a.started_at,
        "completed_at": a.finished_at,
        "duration_ms": a.duration_ms,
        "http_status": a.http_status,
        "error": a.error,
        "replayed": a.replayed,
        "next_attempt_at": a.next_attempt_at,
        "summary": a.summary,
    }


ROLLUP_STATES = {
    "ready": ["READY"],
    "in_flight": ["QUEUED", "PROCESSING"],
    "needs_you": ["FAILED", "VALIDATION_ERROR", "DEGRADED"],
    "stale": ["STALE"],
}


def rollup_annotations(path: str = "") -> dict:
    """Counts for a roll-up: ready, in flight, needs you, stale, never pushed, total.
    `path` is "roles__" when the counting starts from companies."""
    from django.db.models import Count

    counted = path.rstrip("_") or "pk"

    def count(**lookups) -> Count:
        return Count(counted, filter=Q(**{path + key: value for key, value in lookups.items()}))

    counts = {name: count(state__in=states) for name, states in ROLLUP_STATES.items()}
    counts["never_pushed"] = count(state="DRAFT", last_run__isnull=True)
    counts["total"] = Count(counted)
    return counts


def companies_with_rollup(user):
    from onboarding.models import Company

    return Company.objects.visible_to(user).annotate(**rollup_annotations("roles__")).order_by("name")


def company_rollup(company) -> dict:
    from onboarding.models import Role

    return Role.objects.filter(company=company).aggregate(**rollup_annotations())
