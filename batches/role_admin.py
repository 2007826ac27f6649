"""The role list's batch faces: "Push to Etter as a batch" and the CSV import. They extend
onboarding's RoleAdmin here, because batches build on onboarding and never the reverse."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from batches.services import batch_push
from batches.upload import UploadForm, import_upload
from onboarding.admin import RoleAdmin, refusal_as_message
from onboarding.budgets import estimate
from onboarding.intake import OnExisting
from onboarding.models import Priority, Role


class CsvImportForm(UploadForm):
    csv_file = forms.FileField(
        label="CSV file",
        help_text="Header: company,role_name,draup_role,occupation,job_family,jd "
        "(and optionally on_existing: skip, update or reassess, row by row)",
    )
    on_existing = forms.ChoiceField(
        label="A role that already exists",
        choices=OnExisting.choices,
        initial=OnExisting.UPDATE,
        required=False,
        help_text="Roles match ignoring case and extra spaces. A row's on_existing column wins.",
    )
    push = forms.BooleanField(label="Push the imported roles as a batch", required=False)
    urgent = forms.BooleanField(
        label="Urgent", required=False, help_text="Claimed ahead of normal pushes of the last 30 minutes."
    )
    skip_enhancement_workflows = forms.BooleanField(
        label="Assessment only (skip the enhancement workflows; run them later with Run enhancements)",
        required=False,
    )


class BatchingRoleAdmin(RoleAdmin):
    actions = [
        "push_to_etter",
        "push_as_batch",
        "push_as_urgent_batch",
        "push_assessment_only",
        "push_from_scratch",
        "run_enhancements",
        "retry_failed",
        "cancel_push",
    ]
    change_list_template = "admin/batches/role_change_list.html"

    def get_urls(self):
        return [
            path(
                "import-csv/",
                self.admin_site.admin_view(self.import_csv_view),
                name="onboarding_role_import_csv",
            ),
            *super().get_urls(),
        ]

    def import_csv_view(self, request):
        """Upload a CSV (and a zip of JD files): "Check" reports every row and changes nothing,
        "Import" writes the rows that pass, in one transaction, optionally pushed as a batch."""
        if not self.has_push_permission(request):
            raise PermissionDenied
        form = CsvImportForm(request.POST or None, request.FILES or None)
        report, error = None, None
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            report, error = import_upload(
                request,
                form,
                push=data["push"],
                name=f"CSV {data['csv_file'].name}",
                on_existing=data["on_existing"] or OnExisting.UPDATE,
                options={
                    "skip_enhancement_workflows": data["skip_enhancement_workflows"],
                    "priority": Priority.URGENT if data["urgent"] else Priority.NORMAL,
                },
            )
        context = {
            **self.admin_site.each_context(request),
            "title": "Import roles from CSV",
            "form": form,
            "report": report,
            "error": error,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/batches/import_csv.html", context)

    @admin.action(description="Push to Etter as a batch", permissions=["push"])
    @refusal_as_message
    def push_as_batch(self, request, queryset, priority: str = Priority.NORMAL):
        if "confirmed" not in request.POST:
            return self._confirm_batch(request, queryset, priority)
        urgent = " (urgent)" if priority == Priority.URGENT else ""
        batch = batch_push(
            role_ids=list(queryset.values_list("pk", flat=True)),
            user=request.user,
            name=f"{queryset.count()} roles from the admin{urgent}",
            options={"priority": priority},
        )
        refused = batch.refusals.count()
        self.message_user(
            request,
            format_html(
                'Batch <a href="{}">{}</a>: {} roles queued, {} refused.',
                reverse("admin:batches_batch_change", args=[batch.pk]),
                batch.batch_id,
                batch.requested - refused,
                refused,
            ),
        )
        # Land on the batch's status page, where its progress shows live.
        return HttpResponseRedirect(batch.get_absolute_url())

    def _confirm_batch(self, request, queryset, priority: str):
        """Before a batch starts: how many roles go, the LLM tokens and cost they should take,
        and each company's budget left this month."""
        roles = list(queryset.select_related("company"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Push these roles to Etter as a batch?",
            "opts": self.model._meta,
            "roles": roles,
            "estimate": estimate(roles),
            "action": request.POST.get("action"),
            "urgent": priority == Priority.URGENT,
            "selected": [r.pk for r in roles],
        }
        return TemplateResponse(request, "admin/batches/confirm_batch.html", context)

    @admin.action(
        description="Push to Etter as an urgent batch (ahead of recent normal pushes)", permissions=["push"]
    )
    def push_as_urgent_batch(self, request, queryset):
        return self.push_as_batch(request, queryset, priority=Priority.URGENT)


admin.site.unregister(Role)
admin.site.register(Role, BatchingRoleAdmin)
