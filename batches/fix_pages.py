"""The fix-and-retry round trip of a batch: download its failed and refused roles as a CSV in
the import format (with the reason per row), fix them in a spreadsheet, upload the file back:
Check shows what changes per row, Import fixes those roles and retries them as the batch's
next round."""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from batches.csv_import import fix_csv
from batches.pages import _batch
from batches.upload import UploadForm, import_upload


class FixUploadForm(UploadForm):
    csv_file = forms.FileField(label="The corrected CSV")


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
        report, error = import_upload(request, form, into=batch)
        batch.refresh_from_db()
    return render(
        request, "batches/fix.html", {"batch": batch, "form": form, "report": report, "error": error}
    )
