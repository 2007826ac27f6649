"""A company's job role and its lifecycle (PRODUCT.md, "The role lifecycle").

Transitions here only check and change fields; coordination (runs, jobs) lives in services.
Every transition takes `by` (a user, or None for the system) and `description` (why), which
django-fsm-log records.
"""

from __future__ import annotations

from typing import cast

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django_fsm import ConcurrentTransitionMixin, FSMField, transition
from django_fsm_log.decorators import fsm_log_by, fsm_log_description

from onboarding.errors import InvalidTransition
from onboarding.names import normalize_name


class RoleState(models.TextChoices):
    DRAFT = "DRAFT", "Draft"
    QUEUED = "QUEUED", "Queued"
    PROCESSING = "PROCESSING", "Processing"
    READY = "READY", "Ready"
    DEGRADED = "DEGRADED", "Degraded"
    FAILED = "FAILED", "Failed"
    VALIDATION_ERROR = "VALIDATION_ERROR", "Validation error"
    STALE = "STALE", "Stale"


class ProcessingStep(models.TextChoices):
    NONE = "", "-"
    ROLE_SETUP = "ROLE_SETUP", "Role setup"
    AI_ASSESSMENT = "AI_ASSESSMENT", "AI assessment"
    # Reference 002's last sub-states: the enhancement workflows (top tasks, skills, task
    # feasibility: they run side by side), then storing the result.
    SKILLS = "SKILLS", "Enhancements (tasks and skills)"
    FINALIZE = "FINALIZE", "Finishing"


S = RoleState
PUSHABLE = [S.DRAFT, S.FAILED, S.DEGRADED, S.STALE]
IN_FLIGHT = [S.QUEUED, S.PROCESSING]
# Transitions only the pipeline makes: no button for them in the admin.
SYSTEM_ONLY = {"admin": False}


class RoleQuerySet(models.QuerySet):
    def visible_to(self, user) -> RoleQuerySet:
        from .company import Company

        return self.filter(company__in=Company.objects.visible_to(user))


class Role(ConcurrentTransitionMixin, models.Model):
    company = models.ForeignKey("onboarding.Company", on_delete=models.PROTECT, related_name="roles")
    name = models.CharField(max_length=255)
    draup_role_id = models.CharField("Draup role id", max_length=100, blank=True)
    draup_role_name = models.CharField("Draup role", max_length=255, blank=True)
    occupation = models.CharField(max_length=255, blank=True)
    job_family = models.CharField(max_length=255, blank=True)

    state = FSMField(default=S.DRAFT, choices=S.choices, protected=True, db_index=True)
    processing_step = models.CharField(
        "step", max_length=20, choices=ProcessingStep.choices, blank=True, default=""
    )
    state_reason = models.TextField("reason", blank=True)
    last_run = models.ForeignKey(
        "onboarding.Run", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    ai_automation_score = models.FloatField(null=True, blank=True)
    assessment = models.JSONField(null=True, blank=True)
    dashboard_url = models.URLField(max_length=1000, blank=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    # What the last assessment was made from (onboarding/models/inputs.py): the hash decides
    # staleness, the copy shows what changed since.
    assessed_inputs_hash = models.CharField(max_length=64, blank=True, editable=False)
    assessed_inputs = models.JSONField(null=True, blank=True, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RoleQuerySet.as_manager()

    class Meta:
        ordering = ["company__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["company", "name"], name="role_name_unique_per_company"),
            # Names differing only by case are one role, even when two pushes race to create it.
            models.UniqueConstraint("company", Lower("name"), name="role_name_unique_ignoring_case"),
            models.CheckConstraint(condition=models.Q(name__regex=r"\S"), name="role_name_not_blank"),
        ]
        permissions = [("push_role", "Can push roles to Etter, retry and cancel")]

    def __str__(self) -> str:
        return f"{self.name} ({self.company.name})" if self.company_id else self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("status-role", args=[self.pk])

    def clean_fields(self, exclude=None) -> None:
        # The state is protected: only transitions change it, so validation must not re-assign it.
        super().clean_fields(exclude={*(exclude or ()), "state"})

    def clean(self) -> None:
        """A role typed in the admin follows the intake's rule: its name is stored normalised,
        and a name that differs from another role's only by case or spaces is that role."""
        self.name = normalize_name(self.name)
        if not self.company_id or not self.name:
            return
        twin = Role.objects.filter(company_id=self.company_id, name__iexact=self.name).exclude(pk=self.pk)
        if twin.exists():
            raise ValidationError(
                {"name": f"A role named {twin.first().name} already exists at {self.company}."}
            )

    @property
    def state_fields(self) -> tuple[FSMField, ...]:
        """The FSM fields, for django-fsm's concurrency check: its own property walks every
        field of the model for each role made or loaded (2,500 times in a big push)."""
        return (cast(FSMField, self._meta.get_field("state")),)

    @property
    def has_draup_mapping(self) -> bool:
        return bool(self.draup_role_id or self.draup_role_name)

    @property
    def in_flight(self) -> bool:
        return self.state in IN_FLIGHT

    def store_assessment(self, output: dict) -> None:
        """Keep what the assessment returned (the score, tasks and impact, and the dashboard
        link) and what it was made from: the JD its run linked and the Draup mapping."""
        from .inputs import inputs_copy, linked_job_description, role_inputs_hash

        self.ai_automation_score = output.get("ai_automation_score")
        self.assessment = {k: output.get(k) for k in ("ai_automation_score", "tasks", "impact")}
        self.dashboard_url = output.get("dashboard_url") or ""
        jd = linked_job_description(self.last_run_id)
        workflow_id = self.last_run.workflow_id if self.last_run else ""
        self.assessed_inputs_hash = role_inputs_hash(self, jd)
        self.assessed_inputs = inputs_copy(self, jd, workflow_id=workflow_id)

    def apply(self, name: str, *, by=None, reason: str = "") -> None:
        """Run transition `name`, or raise InvalidTransition with the current and asked-for state."""
        method = getattr(self, name)
        meta = method._django_fsm
        if not meta.has_transition(self.state) or not meta.conditions_met(self, self.state):
            target = _target_of(meta) or name
            raise InvalidTransition(current=self.state, target=target)
        method(by=by, description=reason or None)

    # --- transitions (PRODUCT.md table) -------------------------------------------------

    @fsm_log_by
    @fsm_log_description
    @transition(
        state,
        source=PUSHABLE,
        target=S.QUEUED,
        permission="onboarding.push_role",
        custom={"label": "Push to Etter"},
    )
    def enqueue(self, by=None, description=None) -> None:
        self.state_reason = description or "Queued"
        self.processing_step = ProcessingStep.NONE

    @fsm_log_by
    @fsm_log_description
    @transition(state, source=S.READY, target=S.QUEUED, permission="onboarding.push_role", custom=SYSTEM_ONLY)
    def enhance(self, by=None, description=None) -> None:
        """A READY role pushed with skip_enhancement_workflows gets its enhancement workflows
        later ("Run enhancements", a service: no bare button). The assessment stays stored."""
        self.state_reason = description or "Run enhancements"
        self.processing_step = ProcessingStep.NONE

    @fsm_log_by
    @fsm_log_description
    @transition(state, source=S.DRAFT, target=S.VALIDATION_ERROR, custom=SYSTEM_ONLY)
    def reject(self, by=None, description=None) -> None:
        self.state_reason = description or ""

    @fsm_log_by
    @fsm_log_description
    @transition(state, source=S.VALIDATION_ERROR, target=S.DRAFT, custom={"label": "Back to draft"})
    def reopen(self, by=None, description=None) -> None:
        self.state_reason = description or "Inputs fixed"

    @fsm_log_by
    @fsm_log_description
    @transition(state, source=S.QUEUED, target=S.PROCESSING, custom=SYSTEM_ONLY)
    def start(self, by=None, description=None) -> None:
        self.state_reason = description or "A worker started the run"

    @fsm_log_by
    @fsm_log_description
    @transition(state, source=S.PROCESSING, target=S.READY, custom=SYSTEM_ONLY)
    def finish_ready(self, by=None, description=None) -> None:
        self.state_reason = description or "Visible on the Etter dashboard"
        self.processing_step = ProcessingStep.NONE
        self.ready_at = timezone.now()

    @fsm_log_by
    @fsm_log_description
    @transition(state, source=S.PROCESSING, target=S.DEGRADED, custom=SYSTEM_ONLY)
    def finish_degraded(self, by=None, description=None) -> None:
        self.state_reason = description or "An optional step failed"
        self.processing_step = ProcessingStep.NONE

    @fsm_log_by
    @fsm_log_description
    @transition(state, source=S.PROCESSING, target=S.FAILED, custom=SYSTEM_ONLY)
    def fail(self, by=None, description=None) -> None:
        self.state_reason = description or "The run failed"
        self.processing_step = ProcessingStep.NONE

    @fsm_log_by
    @fsm_log_description
    @transition(
        state,
        source=IN_FLIGHT,
        target=S.FAILED,
        permission="onboarding.push_role",
        custom={"label": "Cancel push"},
    )
    def cancel(self, by=None, description=None) -> None:
        self.state_reason = description or "cancelled"
        self.processing_step = ProcessingStep.NONE

    @fsm_log_by
    @fsm_log_description
    @transition(state, source=S.READY, target=S.STALE, custom={"label": "Mark stale"})
    def mark_stale(self, by=None, description=None) -> None:
        self.state_reason = description or "Inputs changed after the assessment"


def _target_of(meta) -> str | None:
    for t in meta.transitions.values():
        return t.target
    return None


# The lifecycle as data, for the metadata endpoint, docs and tests: {from: [to, ...]}.
def allowed_transitions() -> dict[str, list[str]]:
    table: dict[str, set[str]] = {s.value: set() for s in RoleState}
    for t in Role._meta.get_field("state").get_all_transitions(Role):
        table[t.source].add(t.target)
    return {source: sorted(targets) for source, targets in table.items()}
