"""The fix-and-retry round trip of a batch: download its failed and refused roles as a CSV in
the import format (with the reason per row), fix them in a spreadsheet, upload the file back:
Check shows what changes per row, Import fixes those roles and retries them as the batch's
next round."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from batches.csv_import import fix_csv, import_roles
from batches.pages import _batch
from batches.role_admin import upload_within
from onboarding.errors import AppError


class FixUploadForm(forms.Form):
    csv_file = forms.FileField(label="The corrected CSV")
    zip_file = forms.FileField(
        label="Zip of JD files", required=False, help_text="Only when the jd column names files."
    )

    def clean_csv_file(self):
        return upload_within(self.cleaned_data["csv_file"], settings.CSV_MAX_BYTES)

    def clean_zip_file(self):
        return upload_within(self.cleaned_data["zip_file"], settings.CSV_ZIP_MAX_BYTES)


@login_required
def batch_fix_csv(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    response = HttpResponse(fix_csv(batch, request.user), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{batch.batch_id} to fix.csv"'
    return response


@login_required
def batch_fix_upload(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    if not request.user.has_perm("onboarding.push_role"):
        raise PermissionDenied
    form = FixUploadForm(request.POST or None, request.FILES or None)
    report, error = None, None
    if request.method == "POST" and form.is_valid():
        dry_run = "_import" not in request.POST
        try:
            report = import_roles(
                csv_bytes=form.cleaned_data["csv_file"].read(),
                zip_bytes=form.cleaned_data["zip_file"].read() if form.cleaned_data["zip_file"] else None,
                dry_run=dry_run,
                push=not dry_run,
                user=request.user,
                into=batch,
            )
        except AppError as err:
            error = err.message
        batch.refresh_from_db()
    return render(
        request, "batches/fix.html", {"batch": batch, "form": form, "report": report, "error": error}
    )
