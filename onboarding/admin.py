"""The admin a CSM lives in. Actions and buttons are one service call and a message."""

from __future__ import annotations

import functools

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy
from django_fsm.admin import FSMAdminMixin
from django_fsm_log.admin import StateLogInline

from onboarding import services
from onboarding.errors import AppError
from onboarding.explain import STATE_COLOURS
from onboarding.input_changes import changes_since_assessment
from onboarding.models import (
    Company,
    PipelineRunner,
    Role,
    RoleDocument,
    RoleState,
    Run,
    RunAttempt,
    RunStep,
    SimulatorCall,
    SimulatorFault,
)
from onboarding.models.inputs import stored_inputs_hash


def state_badge(state: str, label: str) -> str:
    return format_html(
        '<span class="etter-state" style="background:{}">{}</span>',
        STATE_COLOURS.get(state, "#6b7280"),
        label,
    )


def refusal_as_message(action):
    """An admin action refused whole (a full queue, no permission) says why on the page."""

    @functools.wraps(action)
    def run(modeladmin, request, queryset, **options):
        try:
            return action(modeladmin, request, queryset, **options)
        except AppError as error:
            modeladmin.message_user(request, error.message, messages.ERROR)
            return None

    return run


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "role_count", "ready_count"]
    search_fields = ["name"]
    filter_horizontal = ["csms"]
    actions = ["reassess_stale"]

    def get_queryset(self, request):
        return Company.objects.visible_to(request.user).annotate(
            _roles=Count("roles"), _ready=Count("roles", filter=Q(roles__state=RoleState.READY))
        )

    def has_push_permission(self, request):
        return request.user.has_perm("onboarding.push_role")

    def get_readonly_fields(self, request, obj=None):
        # The budget bounds what CSMs may spend: only staff allowed to set budgets change it.
        if request.user.has_perm("onboarding.set_budget"):
            return super().get_readonly_fields(request, obj)
        return [*super().get_readonly_fields(request, obj), "monthly_token_budget"]

    @admin.action(description="Re-assess all stale roles", permissions=["push"])
    def reassess_stale(self, request, queryset):
        report = services.companies_reassess_stale(
            company_ids=list(queryset.values_list("pk", flat=True)), user=request.user
        )
        self.message_user(request, f"Queued {len(report.runs)} stale roles for a new assessment.")
        for reason, count in report.refusal_summary().items():
            self.message_user(request, f"Refused {count}: {reason}", messages.ERROR)

    @admin.display(description="roles", ordering="_roles")
    def role_count(self, obj):
        return obj._roles

    @admin.display(description="ready", ordering="_ready")
    def ready_count(self, obj):
        return obj._ready


class RoleDocumentInline(admin.TabularInline):
    model = RoleDocument
    extra = 1
    fields = ["doc_type", "name", "file", "content", "uri", "format", "created_at"]
    readonly_fields = ["format", "created_at"]


class RunInline(ReadOnlyInline):
    model = Run
    fields = ["workflow_id", "status", "queued_at", "started_at", "finished_at", "error_message"]

    @admin.display(description="error")
    def error_message(self, obj):
        return (obj.error or {}).get("message", "")


@admin.register(Role)
class RoleAdmin(FSMAdminMixin, admin.ModelAdmin):
    fsm_fields = ["state"]
    fsm_transition_not_allowed_msg = gettext_lazy(
        "'{transition_name}' is not allowed from the role's current state."
    )
    list_display = [
        "name",
        "company",
        "state_display",
        "processing_step",
        "draup_role_name",
        "run_link",
        "updated_at",
    ]
    list_filter = ["state", ("company", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["name", "company__name", "draup_role_name", "draup_role_id"]
    list_select_related = ["company", "last_run"]
    list_per_page = 100
    autocomplete_fields = ["company"]
    readonly_fields = [
        "state",
        "processing_step",
        "state_reason",
        "last_run",
        "ai_automation_score",
        "dashboard_link",
        "ready_at",
        "created_at",
        "updated_at",
        "changes_since_assessment",
    ]
    fieldsets = [
        (
            None,
            {"fields": ["company", "name", "draup_role_id", "draup_role_name", "occupation", "job_family"]},
        ),
        (
            "Onboarding",
            {
                "fields": [
                    "state",
                    "processing_step",
                    "state_reason",
                    "last_run",
                    "ai_automation_score",
                    "dashboard_link",
                    "ready_at",
                    "created_at",
                    "updated_at",
                    "changes_since_assessment",
                ]
            },
        ),
    ]
    inlines = [RoleDocumentInline, RunInline, StateLogInline]
    actions = [
        "push_to_etter",
        "push_assessment_only",
        "push_from_scratch",
        "run_enhancements",
        "retry_failed",
        "cancel_push",
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).filter(company__in=Company.objects.visible_to(request.user))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "company":
            kwargs["queryset"] = Company.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description="state", ordering="state")
    def state_display(self, obj):
        return state_badge(obj.state, obj.get_state_display())

    @admin.display(description="last run")
    def run_link(self, obj):
        if not obj.last_run:
            return "-"
        url = reverse("admin:onboarding_run_change", args=[obj.last_run.pk])
        return format_html('<a href="{}">{}</a>', url, obj.last_run.get_status_display())

    @admin.display(description="dashboard")
    def dashboard_link(self, obj):
        if not obj.dashboard_url:
            return "-"
        return format_html(
            '<a href="{}" target="_blank" rel="noopener">{}</a>', obj.dashboard_url, obj.dashboard_url
        )

    # --- buttons on the role page: pushes and cancels go through the services ---------

    def response_change(self, request, obj):
        transition = request.POST.get(self.fsm_post_param)
        if transition not in ("enqueue", "cancel"):
            return super().response_change(request, obj)
        try:
            if transition == "enqueue":
                run = services.role_push(role=obj, user=request.user)
                self.message_user(request, f"Pushed {obj.name} to Etter (run {run.workflow_id}).")
            else:
                services.role_cancel(role=obj, user=request.user)
                self.message_user(request, f"Cancelled the push of {obj.name}.")
        except AppError as error:
            self.message_user(request, error.message, messages.ERROR)
        return HttpResponseRedirect(request.path)

    # --- a READY role becomes STALE only when its inputs really changed ----------------
    # Decided after the role and its documents are saved (save_related), by comparing hashes
    # of the inputs with those of the last assessment (onboarding/models/inputs.py): a Save
    # that changes nothing (a browser posts the JD back with CRLF) leaves the role READY.

    def save_model(self, request, obj, form, change):
        obj._inputs_before = stored_inputs_hash(obj.pk) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        role = form.instance
        if change and services.role_inputs_saved(
            role=role, user=request.user, reason="Changed in the admin", before_hash=role._inputs_before
        ):
            role.refresh_from_db()

    @admin.display(description="changes since the assessment")
    def changes_since_assessment(self, obj):
        changes = changes_since_assessment(obj) if obj.pk and obj.state == RoleState.STALE else None
        if changes is None:
            return "-"
        return render_to_string("status/role_changes.html", {"changes": changes})

    # --- list actions -------------------------------------------------------------------

    def has_push_permission(self, request):
        return request.user.has_perm("onboarding.push_role")

    @admin.action(description="Push to Etter", permissions=["push"])
    @refusal_as_message
    def push_to_etter(self, request, queryset):
        report = services.roles_push(role_ids=list(queryset.values_list("pk", flat=True)), user=request.user)
        self._report(request, "Pushed", report)

    @admin.action(description="Push to Etter (assessment only, no enhancements)", permissions=["push"])
    def push_assessment_only(self, request, queryset):
        report = services.roles_push(
            role_ids=list(queryset.values_list("pk", flat=True)),
            user=request.user,
            options={"skip_enhancement_workflows": True},
        )
        self._report(request, "Pushed (assessment only)", report)

    @admin.action(
        description="Push to Etter from scratch (create the company role again)", permissions=["push"]
    )
    def push_from_scratch(self, request, queryset):
        report = services.roles_push(
            role_ids=list(queryset.values_list("pk", flat=True)),
            user=request.user,
            options={"from_scratch": True},
        )
        self._report(request, "Pushed from scratch (a new company role each)", report)

    @admin.action(description="Run enhancements (READY roles pushed without them)", permissions=["push"])
    def run_enhancements(self, request, queryset):
        report = services.roles_run_enhancements(
            role_ids=list(queryset.values_list("pk", flat=True)), user=request.user
        )
        self._report(request, "Started the enhancements of", report)

    @admin.action(description="Retry failed pushes", permissions=["push"])
    @refusal_as_message
    def retry_failed(self, request, queryset):
        failed = queryset.filter(state__in=[RoleState.FAILED, RoleState.DEGRADED])
        skipped = queryset.count() - failed.count()
        report = services.roles_push(
            role_ids=list(failed.values_list("pk", flat=True)), user=request.user, reason="Retry"
        )
        self._report(request, "Retried", report)
        if skipped:
            self.message_user(request, f"Skipped {skipped} roles that had not failed.", messages.WARNING)

    @admin.action(description="Cancel push", permissions=["push"])
    def cancel_push(self, request, queryset):
        cancelled, skipped = 0, 0
        for role in queryset.filter(state__in=[RoleState.QUEUED, RoleState.PROCESSING]).select_related(
            "last_run"
        ):
            try:
                services.role_cancel(role=role, user=request.user)
                cancelled += 1
            except AppError:
                skipped += 1
        skipped += queryset.exclude(state__in=[RoleState.QUEUED, RoleState.PROCESSING]).count()
        self.message_user(request, f"Cancelled {cancelled} pushes.")
        if skipped:
            self.message_user(
                request, f"Skipped {skipped} roles that were not queued or running.", messages.WARNING
            )

    def _report(self, request, verb: str, report: services.PushReport) -> None:
        if report.runs:
            self.message_user(request, f"{verb} {len(report.runs)} roles to Etter.")
        kept = sum(bool(getattr(run, "kept_company_role", "")) for run in report.runs)
        if kept:
            self.message_user(
                request,
                f"{kept} of them keep their draup-world company role: only the job description link, "
                "the assessment and the enhancements run again.",
            )
        for reason, count in report.refusal_summary().items():
            self.message_user(request, f"Refused {count}: {reason}", messages.ERROR)
        if not report.runs and not report.refused:
            self.message_user(request, "Nothing to do: no role in the selection could go.", messages.WARNING)


class RunStepInline(ReadOnlyInline):
    model = RunStep
    show_change_link = False
    fields = ["name", "status", "attempts", "started_at", "finished_at", "duration_ms", "error", "output"]


class RunAttemptInline(ReadOnlyInline):
    """Every attempt of every call, oldest first: the whole history, not only the last error."""

    model = RunAttempt
    show_change_link = False
    fields = ["round", "step", "call", "number", "max_attempts", "outcome", "started_at", "duration_ms"]
    fields += ["http_status", "replayed", "next_attempt_at", "error", "worker"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["workflow_id", "role", "status", "round", "queued_at", "started_at", "finished_at"]
    list_filter = ["status"]
    search_fields = ["workflow_id", "role__name", "role__company__name"]
    list_select_related = ["role__company"]
    inlines = [RunStepInline, RunAttemptInline]
    readonly_fields = [f.name for f in Run._meta.fields]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).filter(role__company__in=Company.objects.visible_to(request.user))
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PipelineRunner)
class PipelineRunnerAdmin(admin.ModelAdmin):
    """The live runners: which machine, how many runs each holds, when each last beat."""

    list_display = ["name", "cluster", "holding", "capacity", "started_at", "heartbeat_at"]
    readonly_fields = [f.name for f in PipelineRunner._meta.fields]

    def has_module_permission(self, request):
        return request.user.is_superuser

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


if settings.DRAUP_WORLD_SIMULATOR:

    @admin.register(SimulatorCall)
    class SimulatorCallAdmin(admin.ModelAdmin):
        list_display = ["created_at", "endpoint", "status_code", "replayed", "idempotency_key", "duration_ms"]
        list_filter = ["endpoint", "status_code", "replayed"]
        search_fields = ["idempotency_key", "trace_id"]

        def get_queryset(self, request):
            """A call carries its run's trace id: a CSM sees the calls of their companies' runs."""
            from onboarding.selectors import sees_every_company

            qs = super().get_queryset(request)
            if sees_every_company(request.user):
                return qs
            runs = Run.objects.filter(role__company__in=Company.objects.visible_to(request.user))
            return qs.filter(trace_id__in=runs.values("trace_id"))

        def has_add_permission(self, request):
            return False

        def has_change_permission(self, request, obj=None):
            return False

    @admin.register(SimulatorFault)
    class SimulatorFaultAdmin(admin.ModelAdmin):
        list_display = ["endpoint", "kind", "remaining", "retry_after", "hang_seconds", "created_at"]
