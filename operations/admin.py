"""Admin: rules a CSM sets up (with a test button), the events and their lag, every delivery
with its attempts, SLA configs (staff with the permission) and SLA records with filters."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Min, Q
from django.utils import timezone

from batches.models import Batch
from onboarding.models import Company

from . import services
from .models import Delivery, DeliveryAttempt, Event, InboxItem, Rule, SlaConfig, SlaRecord


@admin.register(Rule)
class RuleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "active",
        "event_type",
        "company",
        "state",
        "error_class",
        "action",
        "recipients",
        "built_in",
    ]
    list_filter = ["active", "event_type", "action", "built_in"]
    search_fields = ["name"]
    actions = ["send_test"]
    readonly_fields = ["built_in", "owner"]
    fieldsets = [
        (None, {"fields": ["name", "active", "built_in", "owner"]}),
        (
            "When",
            {
                "fields": [
                    "event_type",
                    "company",
                    "state",
                    "error_class",
                    "batch_scope",
                    "only_if_notify_requested",
                ]
            },
        ),
        ("Do what", {"fields": ["action", "recipients", "addresses", "webhook_url", "webhook_secret"]}),
    ]

    def get_queryset(self, request):
        qs = super().get_queryset(request).select_related("company")
        return qs if _sees_all(request.user) else qs.filter(owner=request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "company":
            kwargs["queryset"] = Company.objects.visible_to(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        if not change:
            obj.owner = None if _sees_all(request.user) else request.user
        super().save_model(request, obj, form, change)

    @admin.action(description="Send a test to the selected rules' webhook or addresses")
    def send_test(self, request, queryset):
        for rule in queryset:
            attempts = services.rule_send_test(rule=rule)
            if not attempts:
                self.message_user(
                    request, f"{rule}: a test goes only to a webhook or to given addresses.", messages.WARNING
                )
            for attempt in attempts:
                level = (
                    messages.SUCCESS if attempt.outcome == DeliveryAttempt.Outcome.SENT else messages.ERROR
                )
                answer = f"HTTP {attempt.http_status}" if attempt.http_status else attempt.answer[:200]
                self.message_user(
                    request,
                    f"{rule} → {attempt.delivery.target}: {attempt.get_outcome_display()} ({answer})",
                    level,
                )


def _sees_all(user) -> bool:
    return user.is_superuser or user.has_perm("onboarding.view_all_companies")


def _events_visible_to(user) -> Q:
    """Events of the user's companies, and the completion of batches they may see (a
    completion names no company; the batch pages show each viewer their own part)."""
    companies = Company.objects.visible_to(user)
    batches = Batch.objects.visible_to(user).values("pk")
    return Q(company__in=companies) | Q(company__isnull=True, batch__in=batches)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


@admin.register(Event)
class EventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "type",
        "company",
        "role",
        "from_state",
        "to_state",
        "error_class",
        "actor",
        "created_at",
        "lag",
    ]
    list_filter = ["type", ("processed_at", admin.EmptyFieldListFilter), "error_class"]
    search_fields = ["correlation_id", "role__name", "batch__batch_id"]
    list_select_related = ["company", "role__company", "actor"]  # a role's name shows its company
    date_hierarchy = "created_at"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if _sees_all(request.user) else qs.filter(_events_visible_to(request.user))

    @admin.display(description="handled after")
    def lag(self, obj: Event) -> str:
        if obj.processed_at is None:
            return f"waiting {(timezone.now() - obj.created_at).total_seconds():.0f} s"
        return f"{(obj.processed_at - obj.created_at).total_seconds():.1f} s"

    def changelist_view(self, request, extra_context=None):
        waiting = (
            self.get_queryset(request)
            .filter(processed_at__isnull=True)
            .aggregate(n=Count("pk"), oldest=Min("created_at"))
        )
        if waiting["n"]:
            lag = (timezone.now() - waiting["oldest"]).total_seconds()
            self.message_user(
                request, f"{waiting['n']} events waiting; the oldest for {lag:.0f} s.", messages.WARNING
            )
        else:
            self.message_user(request, "Every event has been handled.", messages.INFO)
        return super().changelist_view(request, extra_context)


class AttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    extra = 0
    can_delete = False
    fields = ("number", "outcome", "http_status", "answer", "started_at", "duration_ms")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "channel",
        "target",
        "status",
        "attempts",
        "rule",
        "event",
        "is_test",
        "created_at",
        "next_attempt_at",
    ]
    list_filter = ["status", "channel", "is_test", ("rule", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["target", "subject"]
    list_select_related = ["rule", "event"]
    inlines = [AttemptInline]

    def get_queryset(self, request):
        """A CSM sees what their own rules sent, and what was sent about one role of their
        companies; not a digest that another rule made of a batch (it counts every company)."""
        qs = super().get_queryset(request)
        if _sees_all(request.user):
            return qs
        companies = Company.objects.visible_to(request.user)
        return qs.filter(Q(rule__owner=request.user) | Q(event__company__in=companies))


@admin.register(SlaConfig)
class SlaConfigAdmin(admin.ModelAdmin):
    """Django's own permissions: only staff given "change SLA config" (not the CSM group)."""

    list_display = ["__str__", "company", "target_minutes", "active"]


class BatchIdFilter(admin.RelatedOnlyFieldListFilter):
    """The batches of the records shown, by batch id: a batch's name is its pusher's words about
    every company in it (Batch.seen_whole_by)."""

    def field_choices(self, field, request, model_admin):
        pks = model_admin.get_queryset(request).values("batch")
        return list(Batch.objects.filter(pk__in=pks).values_list("pk", "batch_id"))


@admin.register(SlaRecord)
class SlaRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "run",
        "role",
        "company",
        "started_at",
        "target_minutes",
        "due_at",
        "completed_at",
        "outcome",
        "actual_seconds",
        "breached",
    ]
    list_filter = [
        "breached",
        "outcome",
        ("completed_at", admin.EmptyFieldListFilter),
        ("company", admin.RelatedOnlyFieldListFilter),
        ("batch", BatchIdFilter),
    ]
    search_fields = ["run__workflow_id", "role__name"]
    list_select_related = ["run", "role__company", "company"]
    date_hierarchy = "started_at"

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return (
            qs if _sees_all(request.user) else qs.filter(company__in=Company.objects.visible_to(request.user))
        )


@admin.register(InboxItem)
class InboxItemAdmin(ReadOnlyAdmin):
    list_display = ["title", "user", "created_at", "read_at"]
    list_filter = [("read_at", admin.EmptyFieldListFilter)]

    def get_queryset(self, request):
        qs = super().get_queryset(request)
        return qs if request.user.is_superuser else qs.filter(user=request.user)
