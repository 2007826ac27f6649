"""Reads shared by the admin, the API and the status pages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from django.core.cache import caches
from django.db.models import Q

from onboarding.models import Run, RunStatus, RunStep
from onboarding.prepared import prepared_cursor


def queue_position(run: Run) -> int | None:
    """1 for the next run of its company to start; None when the run is not waiting."""
    if run.status != RunStatus.QUEUED:
        return None
    ahead = Run.objects.filter(
        Q(queue_key__lt=run.queue_key) | Q(queue_key=run.queue_key, pk__lt=run.pk),
        status=RunStatus.QUEUED,
        role__company_id=run.role.company_id,
    ).count()
    return ahead + 1


DEFAULT_DURATION_SECONDS = 600  # reference 001, before any run has finished here


ESTIMATE_CACHE_SECONDS = 10  # every status answer shows the estimate; its query is the costliest


def estimated_duration_seconds() -> int:
    """Median push -> READY time of the last 50 READY runs; computed at most every
    ESTIMATE_CACHE_SECONDS per process (an estimate, not the state of any run)."""
    estimate = caches["status"].get_or_set("estimated-duration", _estimated_duration, ESTIMATE_CACHE_SECONDS)
    return cast(int, estimate)  # the cache holds what _estimated_duration returned


def _estimated_duration() -> int:
    runs = Run.objects.filter(status=RunStatus.READY, started_at__isnull=False, finished_at__isnull=False)
    spans = sorted(
        (f - q).total_seconds()
        for q, f in runs.order_by("-finished_at").values_list("queued_at", "finished_at")[:50]
        if f is not None  # never None here (filtered above): this tells mypy so
    )
    return max(1, round(spans[len(spans) // 2])) if spans else DEFAULT_DURATION_SECONDS


def run_for(user, workflow_id: str) -> Run:
    """The run, if the user may see its company; NotFound otherwise (existence does not leak)."""
    from onboarding.errors import NotFound
    from onboarding.models import Company

    run = (
        Run.objects.select_related("role__company")
        .prefetch_related("steps", "attempts")
        .filter(workflow_id=workflow_id, role__company__in=Company.objects.visible_to(user))
        .first()
    )
    if run is None:
        raise NotFound(f"No run {workflow_id}.")
    return run


@dataclass(frozen=True)
class StatusHead:
    """What a status answer needs besides the run's own record: its role and its company. One
    query reads it (`status_head`); the rest (`status_core`) is cached by the run's version
    (onboarding/polling.py puts the two together)."""

    pk: int
    workflow_id: str
    version: int
    status: str
    role_id: int
    role_name: str
    role_state: str
    role_last_run_id: int | None
    role_dashboard_url: str
    company_id: int
    company_name: str

    @classmethod
    def of(cls, run: Run) -> StatusHead:
        role = run.role
        return cls(
            run.pk,
            run.workflow_id,
            run.version,
            run.status,
            role.pk,
            role.name,
            role.state,
            role.last_run_id,
            role.dashboard_url,
            role.company_id,
            role.company.name,
        )


# GET status is polled by hundreds at once, and this is its only query on a cache hit. Written
# out once rather than built by the ORM per request: building the query cost more than running
# it. It says what `Company.objects.visible_to` says; the tests hold both paths to one answer.
_HEAD_SQL = """
SELECT r.id, r.workflow_id, r.version, r.status, ro.id, ro.name, ro.state, ro.last_run_id,
       ro.dashboard_url, c.id, c.name
FROM onboarding_run r
JOIN onboarding_role ro ON ro.id = r.role_id
JOIN onboarding_company c ON c.id = ro.company_id
WHERE r.workflow_id = %s"""
_HEAD_SCOPE_SQL = (
    " AND EXISTS (SELECT 1 FROM onboarding_company_csms m WHERE m.company_id = c.id AND m.user_id = %s)"
)


def sees_every_company(user) -> bool:
    """As `Company.objects.visible_to` decides, without building a query."""
    return user.is_superuser or user.has_perm("onboarding.view_all_companies")


def status_head(user, workflow_id: str) -> StatusHead | None:
    """The run's head if the user may see its company, else None: one query."""
    sql, params = _HEAD_SQL, [workflow_id]
    if not sees_every_company(user):  # a CSM: only the companies assigned to them
        sql, params = _HEAD_SQL + _HEAD_SCOPE_SQL, [workflow_id, user.pk]
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return StatusHead(*row) if row else None


def status_core(run: Run, steps: list, attempts: list | None = None) -> dict:
    """The part of a status answer that only the run, its steps and its attempts decide: it
    changes only with the run's version, so it can be cached by (workflow_id, version)."""
    attempts = list(run.attempts.all()) if attempts is None else attempts
    completed = [s for s in steps if s.status == "completed"]
    current = next((s.name for s in steps if s.status != "completed"), None) if run.in_flight else None
    return {
        "status": run.status,
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
                    "input_tokens": s.input_tokens,
                    "output_tokens": s.output_tokens,
                }
                for s in steps
            ],
        },
        "queued_at": run.queued_at,
        "started_at": run.started_at,
        "completed_at": run.finished_at,
        "next_attempt_at": run.next_attempt_at,
        "error": run.error,
        "attempts": [_attempt(a) for a in attempts],
        "usage": {  # from the steps already read: no query of its own
            "input_tokens": sum(s.input_tokens for s in steps),
            "output_tokens": sum(s.output_tokens for s in steps),
        },
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


RECENT_WINDOW_SECONDS = 600  # the completion rate behind an estimate of the time left


def pipeline_summary(runs, roles) -> dict:
    """Where some work stands, for an operator: roles by state, runs in flight, failures by
    reason and who must act, and the time left at the recent completion rate. Five queries,
    whatever the size."""
    from datetime import timedelta

    from django.db.models import Count
    from django.db.models.fields.json import KT
    from django.utils import timezone

    from onboarding.explain import fix_for

    now = timezone.now()
    role_counts = roles.aggregate(**rollup_annotations())
    run_counts = runs.aggregate(
        queued=Count("pk", filter=Q(status=RunStatus.QUEUED)),
        processing=Count("pk", filter=Q(status=RunStatus.PROCESSING)),
        waiting_retry=Count("pk", filter=Q(status=RunStatus.PROCESSING, next_attempt_at__isnull=False)),
        recent=Count("pk", filter=Q(finished_at__gte=now - timedelta(seconds=RECENT_WINDOW_SECONDS))),
    )
    in_flight = run_counts["queued"] + run_counts["processing"]
    codes = (
        runs.filter(status__in=[RunStatus.FAILED, RunStatus.DEGRADED])
        .annotate(code=KT("error__error"))
        .values("code")
        .annotate(n=Count("pk"))
        .order_by("-n", "code")
    )
    failures = []
    for row in codes:
        fix = fix_for({"error": row["code"] or ""})
        failures.append(
            {
                "code": row["code"] or "UNKNOWN",
                "count": row["n"],
                "reason": fix.title,
                "who": fix.who,
                "fix": fix.action,
            }
        )
    rate = run_counts["recent"] / RECENT_WINDOW_SECONDS
    return {
        "roles": role_counts,
        "runs": {
            "in_flight": in_flight,
            "queued": run_counts["queued"],
            "processing": run_counts["processing"],
            "waiting_retry": run_counts["waiting_retry"],
            "finished_last_10_minutes": run_counts["recent"],
        },
        "failures": failures,
        "eta_seconds": (round(in_flight / rate) if rate else None) if in_flight else 0,
    }


def missing_sections(steps: list) -> list[dict]:
    """The sections a DEGRADED role lacks, in words: which, and why (failed, or skipped because
    a step it needs failed). `steps`: the run's RunStep rows."""
    from onboarding.pipeline.steps import label

    return [
        {
            "name": step.name,
            "label": label(step.name),
            "why": (step.error or {}).get("message", "") if step.status == "failed" else "",
            "because": label((step.error or {}).get("because", "")) if step.status == "skipped" else "",
        }
        for step in steps
        if step.status in ("failed", "skipped")
    ]


def lacks_enhancements(steps: list) -> bool:
    """A run pushed with skip_enhancement_workflows (or before they existed) has no rows for
    them: "Run enhancements" can add them."""
    from onboarding.pipeline.steps import enhancement_steps

    return bool(set(enhancement_steps()) - {s.name for s in steps})


# --- token usage (contract, "Usage"): one aggregate query per scope ---------------------------


def token_usage(steps) -> dict[str, int]:
    """{"input_tokens", "output_tokens"} summed over a queryset of RunSteps, in one query."""
    from django.db.models import Sum
    from django.db.models.functions import Coalesce

    return steps.aggregate(
        input_tokens=Coalesce(Sum("input_tokens"), 0), output_tokens=Coalesce(Sum("output_tokens"), 0)
    )


def role_token_usage(role) -> dict[str, int]:
    """Every run of the role: re-assessments cost tokens too."""
    return token_usage(RunStep.objects.filter(run__role_id=role.pk))


def batch_token_usage(batch_key: str, *, user=None) -> dict[str, int]:
    """A batch's runs; with `user`, only those of the companies the user may see."""
    from onboarding.models import Company

    steps = RunStep.objects.filter(run__batch_key=batch_key)
    if user is not None:
        steps = steps.filter(run__role__company__in=Company.objects.visible_to(user))
    return token_usage(steps)


def company_token_usage(company) -> dict[str, int]:
    return token_usage(RunStep.objects.filter(run__role__company_id=company.pk))
