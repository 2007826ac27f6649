"""Writes that coordinate roles, runs and jobs. Admin actions, API views and commands call
these; they validate, run the lifecycle transition, save, and enqueue after commit."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from onboarding.budgets import check_budgets
from onboarding.errors import (
    AlreadyInFlight,
    AppError,
    Forbidden,
    InvalidTransition,
    QueueFull,
    ValidationFailed,
)
from onboarding.jd import pick_job_description, unreadable_reason
from onboarding.models import (
    Company,
    DocumentType,
    Priority,
    Role,
    RoleDocument,
    RoleState,
    Run,
    RunStatus,
    RunStep,
)
from onboarding.models.inputs import changes_by_role, stored_inputs_hash
from onboarding.models.role import PUSHABLE
from onboarding.models.run import queue_key_for
from onboarding.pipeline import doorbell
from onboarding.pipeline.steps import critical_steps, enhancement_steps, step_names

from .bulk import bulk_update_fields, create_objects, insert_columns
from .fsm_log import collected_state_logs

S = RoleState
RESUMABLE = {RunStatus.FAILED, RunStatus.DEGRADED}


@dataclass
class PushReport:
    runs: list[Run] = field(default_factory=list)
    refused: list[tuple[Role, AppError]] = field(default_factory=list)

    def refusal_summary(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for _, error in self.refused:
            counts[error.message] += 1
        return dict(counts)


def role_problems(role: Role, documents: Iterable[RoleDocument], *, mapped: bool | None = None) -> list[str]:
    """What a CSM must fix before this role can be pushed (empty when nothing). `mapped`: whether
    the role will have a Draup mapping, when that is not yet the role's own (the intake's)."""
    problems = []
    jd = pick_job_description(documents)
    if jd is None:
        problems.append("Add a job description (upload a file, paste the text or give a URI).")
    elif reason := unreadable_reason(jd):
        problems.append(reason)
    if not (role.has_draup_mapping if mapped is None else mapped):
        problems.append("Map the role to a Draup role (Draup role id or name).")
    return problems


def check_push_permission(user) -> None:
    if user is not None and not user.has_perm("onboarding.push_role"):
        raise Forbidden("You are not allowed to push roles to Etter.")


def roles_push(
    *,
    role_ids: Iterable[int],
    user=None,
    reason: str = "Pushed to Etter",
    options: dict | None = None,
    batch_key: str = "",
    created: Iterable[tuple[Role, list[RoleDocument]]] = (),
) -> PushReport:
    """Validate and queue many roles at once, in a constant number of queries.

    A failed, degraded role whose last run can resume gets that run back (it starts at the
    step that failed); every other role gets a new run. Roles that cannot go are refused
    with the reason, and a draft that fails validation moves to VALIDATION_ERROR.

    `created`: roles among `role_ids` that the caller's transaction has just created, with
    their documents (the intake's new roles). They are not read again: no other transaction
    can see them yet, so there is nothing to lock, and what is stored is what the caller holds.
    """
    check_push_permission(user)
    report = PushReport()
    with transaction.atomic():
        new = {role.pk: (role, documents) for role, documents in created}
        wanted = [pk for pk in role_ids if pk not in new]
        roles = list(Role.objects.select_for_update().filter(pk__in=wanted).order_by("pk")) if wanted else []
        # Read after the lock, not joined to it: a joined row would be the one from before
        # a concurrent push committed (PostgreSQL re-checks only the locked table). A company
        # is read once, not once per role.
        last_runs = Run.objects.in_bulk([r.last_run_id for r in roles if r.last_run_id])
        docs = _job_descriptions_by_role(roles)
        for role, documents in new.values():
            docs[role.pk] = [d for d in documents if d.doc_type == DocumentType.JOB_DESCRIPTION]
        roles = sorted([*roles, *(role for role, _ in new.values())], key=lambda role: role.pk)
        companies = Company.objects.in_bulk({r.company_id for r in roles})
        for role in roles:
            role.last_run = last_runs.get(role.last_run_id)
            role.company = companies[role.company_id]
        linked = _linked_job_descriptions([r.last_run for r in roles if r.last_run])
        changed: list[Role] = []
        fresh: list[Role] = []
        resumed: list[Role] = []
        with collected_state_logs():
            for role in roles:
                try:
                    _prepare(role, docs[role.pk], user, reason, changed)
                except AppError as error:
                    report.refused.append((role, error))
                    continue
                resume = _can_resume(role, docs[role.pk], linked)
                role.apply("enqueue", by=user, reason=reason)
                changed.append(role)
                (resumed if resume else fresh).append(role)
            _check_queue_room(len(fresh) + len(resumed))
            if any(r.company.monthly_token_budget is not None for r in fresh + resumed):
                check_budgets(fresh + resumed)  # only then: no cost for companies without one
            priority = (options or {}).get("priority") or Priority.NORMAL
            kept = {} if (options or {}).get("from_scratch") else _company_roles(fresh)
            report.runs = _new_runs(fresh, user, options, batch_key, priority, kept) + _resumed_runs(
                resumed, batch_key, priority
            )
            bulk_update_fields(
                changed, ["state", "state_reason", "processing_step", "last_run", "updated_at"]
            )
        run_ids = [run.pk for run in report.runs]
        transaction.on_commit(lambda: pipeline_wake(run_ids))
    return report


def _check_queue_room(asked: int) -> None:
    """Backpressure: a push that would take the queue past PIPELINE_MAX_QUEUED_RUNS is refused
    whole (QueueFull, 429 with Retry-After), instead of queueing without end. The count is one
    indexed query; two pushes at the same moment may both pass (the limit is a guard, not a
    reservation)."""
    limit = settings.PIPELINE_MAX_QUEUED_RUNS
    if not limit or not asked:
        return
    queued = Run.objects.filter(status=RunStatus.QUEUED).count()
    if queued + asked > limit:
        raise QueueFull(
            queued=queued, asked=asked, limit=limit, retry_after=_seconds_until_room(queued + asked - limit)
        )


def _seconds_until_room(excess: int) -> int:
    """How long until `excess` runs have left the queue, at the rate runs finished lately."""
    window = 600
    finished = Run.objects.filter(finished_at__gte=timezone.now() - timedelta(seconds=window)).count()
    if not finished:
        return 60
    return max(10, min(3600, round(excess * window / finished)))


def _linked_job_descriptions(runs: list[Run]) -> dict[int, str]:
    """{run id: id of the JD document its completed role setup linked, as text}."""
    from django.db.models.fields.json import KT

    done = RunStep.objects.filter(
        run__in=[r for r in runs if r.status in RESUMABLE], name="role_setup", status="completed"
    )
    # KT() gives text on PostgreSQL and a number on SQLite: compare as text on both.
    return {run_id: str(jd) for run_id, jd in done.values_list("run_id", KT("output__jd_document_id"))}


def _company_roles(roles: list[Role]) -> dict[int, tuple[str, str]]:
    """{run id: (company role id, workflow id)} of the draup-world company roles these runs
    created, in one query. A new run of the same role (its JD or mapping changed, it went
    stale) keeps that company role: it links the JD again and re-assesses, without creating
    the role again (reference 002, 7.3). Not when the role was renamed since, nor when the push
    asks for `from_scratch`."""
    from django.db.models.fields.json import KT

    by_run = {role.last_run_id: role for role in roles if role.last_run is not None}
    workflow_ids = {run.pk: run.workflow_id for role in roles if (run := role.last_run) is not None}
    if not by_run:
        return {}
    made = RunStep.objects.filter(run__in=list(by_run), name="role_setup")
    rows = made.values_list("run_id", KT("output__company_role_id"), KT("output__for_role_name"))
    return {
        run_id: (company_role_id, workflow_ids[run_id])
        for run_id, company_role_id, for_name in rows
        if company_role_id and for_name in (None, by_run[run_id].name)
    }


def how_it_runs(run: Run) -> str:
    """What a push answer says about what will run again (issue 11, 7.3)."""
    if getattr(run, "kept_company_role", ""):
        return (
            f"; keeps draup-world company role {run.kept_company_role}: links the job description,"
            " re-assesses and re-runs the enhancements"
        )
    if run.options.get("from_scratch"):
        return "; from scratch: the company role is created again"
    return ""


def _can_resume(role: Role, documents: list[RoleDocument], linked: dict[int, str]) -> bool:
    """A failed run resumes unless the role is stale or its JD changed since the run linked one
    (then the JD must be linked again: a new run)."""
    run = role.last_run
    if run is None or run.status not in RESUMABLE or role.state == S.STALE:
        return False
    if run.pk not in linked:
        return True
    jd = pick_job_description(documents)
    return jd is not None and linked[run.pk] == str(jd.pk)


def _job_descriptions_by_role(roles: list[Role]) -> dict[int, list[RoleDocument]]:
    by_role: dict[int, list[RoleDocument]] = defaultdict(list)
    for doc in RoleDocument.objects.filter(role__in=roles, doc_type=DocumentType.JOB_DESCRIPTION):
        by_role[doc.role_id].append(doc)
    return by_role


def _prepare(role: Role, documents: list[RoleDocument], user, reason: str, changed: list) -> None:
    """Raise the AppError that refuses this role, or leave it ready for `enqueue`."""
    if role.in_flight:
        raise AlreadyInFlight(
            workflow_id=role.last_run.workflow_id if role.last_run else "", role_name=role.name
        )
    if role.state not in PUSHABLE and role.state != S.VALIDATION_ERROR:
        raise InvalidTransition(
            current=role.state,
            target=S.QUEUED,
            message=(
                f"{role.name} is {role.get_state_display()}: nothing to push. "
                "Mark it stale first to run the assessment again."
            ),
        )
    problems = role_problems(role, documents)
    if problems:
        message = " ".join(problems)
        if role.state == S.DRAFT:
            role.apply("reject", by=user, reason=message)
            changed.append(role)
        elif role.state == S.VALIDATION_ERROR and role.state_reason != message:
            role.state_reason = message
            changed.append(role)
        raise ValidationFailed(message, role_id=role.pk)
    if role.state == S.VALIDATION_ERROR:
        role.apply("reopen", by=user, reason="Inputs fixed")


def run_step_names(options: dict | None) -> list[str]:
    """The steps a push runs: every step, or with skip_enhancement_workflows the critical path."""
    return critical_steps() if (options or {}).get("skip_enhancement_workflows") else step_names()


def _step_rows(run: Run, names: list[str]) -> list[RunStep]:
    positions = {name: i for i, name in enumerate(step_names())}
    return [RunStep(run=run, name=name, position=positions[name]) for name in names]


def _new_runs(
    roles: list[Role], user, options: dict | None, batch_key: str, priority: str, kept: dict | None = None
) -> list[Run]:
    """New runs, one per role; a role whose last run made a company role (`kept`: see
    _company_roles) starts its role setup with it, and says so in `run.kept_company_role`."""
    kept = kept or {}
    key = queue_key_for(priority, timezone.now())
    runs = [
        Run(
            role=role,
            created_by=user,
            options=options or {},
            batch_key=batch_key,
            priority=priority,
            queue_key=key,
        )
        for role in roles
    ]
    create_objects(runs)
    names = run_step_names(options)
    positions = {name: i for i, name in enumerate(step_names())}
    outputs = []
    for role, run in zip(roles, runs, strict=True):
        company_role, from_run = kept.get(role.last_run_id) or ("", "")
        run.kept_company_role = company_role
        kept_output = {"company_role_id": company_role, "company_role_from": from_run}
        outputs += [kept_output if name == "role_setup" and company_role else {} for name in names]
    # 9 a run, a column at a time: bulk_create's model instances cost seconds for 2,500 runs.
    insert_columns(
        RunStep,
        {
            "run": [run.pk for run in runs for _ in names],
            "name": names * len(runs),
            "position": [positions[name] for name in names] * len(runs),
            "output": outputs,
        },
    )
    for role, run in zip(roles, runs, strict=True):
        role.last_run = run
    return runs


def _resumed_runs(roles: list[Role], batch_key: str, priority: str) -> list[Run]:
    """Reopen each role's last run as its next round: completed steps stay completed, the
    rest start afresh. A batch push makes the run part of that batch."""
    runs = [role.last_run for role in roles if role.last_run]  # each has one: _can_resume saw it
    Run.objects.filter(pk__in=[r.pk for r in runs]).reopen(batch_key=batch_key, priority=priority)
    for run in runs:
        run.status = RunStatus.QUEUED
    return runs


def roles_run_enhancements(*, role_ids: Iterable[int], user=None) -> PushReport:
    """Run the enhancement workflows of READY roles that were pushed without them (or before
    they existed), without repeating the assessment: each role's last run is reopened with
    its missing enhancement steps added as pending. The same run, not a new one: its
    completed role setup and assessment stay as they are (never called again), and its page
    shows the whole graph in one timeline. Refused: roles not READY, or with nothing to run."""
    check_push_permission(user)
    report = PushReport()
    with transaction.atomic():
        roles = list(
            Role.objects.select_for_update(of=("self",)).filter(pk__in=list(role_ids)).order_by("pk")
        )
        runs = Run.objects.in_bulk([r.last_run_id for r in roles if r.last_run_id])
        has = defaultdict(set)
        for run_id, name in RunStep.objects.filter(run__in=list(runs.values())).values_list("run_id", "name"):
            has[run_id].add(name)
        going, rows = [], []
        with collected_state_logs():
            for role in roles:
                run = runs.get(role.last_run_id)
                missing = [n for n in enhancement_steps() if run and n not in has[run.pk]]
                if role.state != S.READY or run is None or run.status != RunStatus.READY or not missing:
                    report.refused.append((role, _nothing_to_enhance(role, run)))
                    continue
                role.apply("enhance", by=user, reason="Run enhancements")
                role.last_run = run
                going.append(role)
                rows += _step_rows(run, missing)
            RunStep.objects.bulk_create(rows)
            report.runs = _resumed_runs(going, "", "")  # each keeps its priority
            bulk_update_fields(going, ["state", "state_reason", "processing_step", "updated_at"])
        run_ids = [run.pk for run in report.runs]
        transaction.on_commit(lambda: pipeline_wake(run_ids))
    return report


def _nothing_to_enhance(role: Role, run: Run | None) -> AppError:
    if role.state != S.READY or run is None or run.status != RunStatus.READY:
        return InvalidTransition(
            current=role.state,
            target=S.QUEUED,
            message=f"{role.name} is {role.get_state_display()}: only a READY role can run its enhancements.",
        )
    return AppError("NOTHING_TO_RUN", f"{role.name} has run its enhancement workflows already.")


def role_run_enhancements(*, role: Role, user=None) -> Run:
    """Run one READY role's enhancement workflows; raise the AppError that refused it."""
    report = roles_run_enhancements(role_ids=[role.pk], user=user)
    if report.refused:
        raise report.refused[0][1]
    return report.runs[0]


def role_push(*, role: Role, user=None, options: dict | None = None) -> Run:
    """Push one role; raise the AppError that refused it."""
    report = roles_push(role_ids=[role.pk], user=user, options=options)
    if report.refused:
        raise report.refused[0][1]
    return report.runs[0]


def run_retry(*, run: Run, user=None) -> Run:
    """Re-queue a failed or degraded run; it starts at the step that failed."""
    role = run.role
    if role.last_run_id != run.pk:
        raise AppError(
            "NOT_LATEST_RUN", f"{run.workflow_id} is not the latest run of {role.name}; retry the latest one."
        )
    if run.status not in RESUMABLE:
        raise InvalidTransition(
            current=role.state,
            target=S.QUEUED,
            message=(
                f"{role.name} is {role.get_state_display()}: only failed or degraded runs can be retried."
            ),
        )
    report = roles_push(role_ids=[role.pk], user=user, reason="Retry")
    if report.refused:
        raise report.refused[0][1]
    return report.runs[0]


def role_retry(*, role: Role, user=None) -> Run:
    """Retry a role's latest run; a role never pushed has none, and says so."""
    return run_retry(run=_latest_run(role, "retry"), user=user)


def role_cancel(*, role: Role, user=None) -> Run:
    """Cancel a role's push; a role never pushed has none, and says so."""
    return run_cancel(run=_latest_run(role, "cancel"), user=user)


def _latest_run(role: Role, action: str) -> Run:
    if role.last_run is None:
        raise InvalidTransition(
            current=role.state,
            target=S.QUEUED if action == "retry" else S.FAILED,
            message=f"{role.name} has never been pushed: there is nothing to {action}.",
        )
    return role.last_run


def run_cancel(*, run: Run, user=None) -> Run:
    """Cancel a queued or running push: it ends FAILED "cancelled" now. A call under way is
    abandoned (its answer, if it comes, is discarded and recorded as such) and no later step
    starts."""
    check_push_permission(user)
    run.cancel(by=user)
    run.refresh_from_db()
    return run


def pipeline_wake(run_ids: list[int]) -> None:
    doorbell.ring_for(run_ids)


def roles_mark_stale(roles: list[Role], *, reason: str, user=None, force: bool = False) -> list[Role]:
    """READY roles whose inputs (JD content, Draup mapping) now hash differently from those
    their last assessment recorded need a new one: READY -> STALE, in bulk, in a constant
    number of queries. Saving without changing anything leaves a role READY. `force` marks
    every READY role given (a re-run asked for). Returns the roles that changed."""
    ready = [r for r in roles if r.state == S.READY]
    changed = {} if force else changes_by_role(ready)
    if not force:
        ready = [r for r in ready if changed[r.pk]]
    with collected_state_logs():
        for role in ready:
            what = changed.get(role.pk)
            role.apply("mark_stale", by=user, reason=f"{reason} ({', '.join(what)})" if what else reason)
    bulk_update_fields(ready, ["state", "state_reason"])
    # Their last run's status now reads "stale": pollers holding its old version must see that.
    Run.objects.filter(pk__in=[r.last_run_id for r in ready if r.last_run_id]).touch()
    return ready


def role_inputs_saved(*, role: Role, user=None, reason: str, before_hash: str | None = None) -> bool:
    """A role's inputs were saved (in the admin): STALE if they differ from the assessed ones.
    A role assessed before inputs were recorded has nothing to compare with: then it goes
    STALE only when this save changed its stored inputs (`before_hash`, taken before it)."""
    with transaction.atomic():
        locked = Role.objects.select_for_update().get(pk=role.pk)
        unrecorded = not locked.assessed_inputs_hash
        if unrecorded and before_hash is not None and before_hash == stored_inputs_hash(locked.pk):
            return False
        return bool(roles_mark_stale([locked], reason=reason, user=user))


def companies_reassess_stale(*, company_ids: Iterable[int], user=None) -> PushReport:
    """Push every STALE role of these companies (only those the user may see) for a new
    assessment, in one bulk push."""
    check_push_permission(user)
    stale = Role.objects.filter(company__in=list(company_ids), state=S.STALE)
    if user is not None:
        stale = stale.visible_to(user)
    return roles_push(
        role_ids=list(stale.values_list("pk", flat=True)), user=user, reason="Re-assess all stale"
    )
