from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html

from batches import role_admin  # noqa: F401  (the role list's batch action and CSV import)
from batches.models import Batch
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
        if request.method != "POST" or batch is None or not self.has_push_permission(request):
            return HttpResponseRedirect(reverse("admin:batches_batch_changelist"))
        retried, refused = batch_retry_failed(batch=batch, user=request.user)
        self.message_user(
            request,
            f"Retried {retried} failed roles." + (f" {refused} could not be retried." if refused else ""),
            messages.SUCCESS if not refused else messages.WARNING,
        )
        return HttpResponseRedirect(reverse("admin:batches_batch_change", args=[pk]))
