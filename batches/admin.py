from django.contrib import admin, messages
from django.http import Http404, HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html

from batches import role_admin  # noqa: F401  (the role list's batch action and CSV import)
from batches.models import Batch, sees_every_company
from batches.selectors import batch_status
from batches.services import batch_retry_failed


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["batch_id", "name", "source", "created_by", "created_at", "requested"]
    list_filter = ["source"]
    search_fields = ["batch_id", "name"]
    list_select_related = ["created_by"]
    readonly_fields = ["batch_id", "name", "source", "created_by", "created_at", "requested", "status"]
    actions = ["retry_failed"]

    def get_queryset(self, request):
        return (
            super().get_queryset(request).filter(pk__in=Batch.objects.visible_to(request.user).values("pk"))
        )

    # A batch's name and count of roles asked for speak of every company in it: a CSM who did
    # not push it neither sees, sorts nor searches them (Batch.seen_whole_by).
    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        changelist.result_list = [batch.as_seen_by(request.user) for batch in changelist.result_list]
        return changelist

    def get_sortable_by(self, request):
        sortable = super().get_sortable_by(request)
        if sees_every_company(request.user):
            return sortable
        return [f for f in sortable if f not in ("name", "requested")]

    def get_search_results(self, request, queryset, search_term):
        if sees_every_company(request.user) or not search_term:
            return super().get_search_results(request, queryset, search_term)
        named, _ = super().get_search_results(request, queryset.seen_whole_by(request.user), search_term)
        return named | queryset.filter(batch_id__icontains=search_term.strip()), False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return request.method == "GET" and super().has_view_permission(request, obj)

    def get_urls(self):
        return [
            path(
                "<int:pk>/retry-failed/",
                self.admin_site.admin_view(self.retry_failed_view),
                name="batches_batch_retry_failed",
            ),
            *super().get_urls(),
        ]

    def get_object(self, request, object_id, from_field=None):
        batch = super().get_object(request, object_id, from_field)
        if batch is not None:
            batch.as_seen_by(request.user)
            batch.viewer = request.user  # the status below shows only what this user may see
        return batch

    @admin.display(description="status")
    def status(self, obj):
        html = render_to_string(
            "batches/admin_status.html",
            {
                "status": batch_status(obj, obj.viewer),
                "refusals": obj.refusals_visible_to(obj.viewer)[:200],
                "retry_url": reverse("admin:batches_batch_retry_failed", args=[obj.pk]),
                "fix_csv_url": reverse("status-batch-fix-csv", args=[obj.pk]),
                "fix_url": reverse("status-batch-fix", args=[obj.pk]),
            },
        )
        return format_html("{}", html)

    def has_push_permission(self, request):
        return request.user.has_perm("onboarding.push_role")

    @admin.action(description="Retry the failed roles of these batches", permissions=["push"])
    def retry_failed(self, request, queryset):
        retried = sum(batch_retry_failed(batch=batch, user=request.user)[0] for batch in queryset)
        self.message_user(request, f"Retried {retried} failed roles.")

    def retry_failed_view(self, request, pk):
        batch = self.get_object(request, str(pk))
        if batch is None:  # as for a batch that does not exist: one the user may not see
            raise Http404("No such batch.")
        if request.method != "POST" or not self.has_push_permission(request):
            return HttpResponseRedirect(reverse("admin:batches_batch_changelist"))
        retried, refused = batch_retry_failed(batch=batch, user=request.user)
        self.message_user(
            request,
            f"Retried {retried} failed roles." + (f" {refused} could not be retried." if refused else ""),
            messages.SUCCESS if not refused else messages.WARNING,
        )
        return HttpResponseRedirect(reverse("admin:batches_batch_change", args=[pk]))
