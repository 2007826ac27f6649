"""An uploaded CSV (and zip of JD files), held to the size limits before it is read, and run
through the import: shared by the admin's CSV import and a batch's fix-and-retry upload."""

from __future__ import annotations

from django import forms
from django.conf import settings

from batches.csv_import import ImportReport, import_roles
from onboarding.errors import AppError
from onboarding.names import too_big


def upload_within(upload, limit: int):
    """Refuse an upload over `limit` before reading it (it may be on disk, and huge)."""
    if upload is not None and upload.size > limit:
        raise forms.ValidationError(too_big("The file", upload.size, limit))
    return upload


class UploadForm(forms.Form):
    csv_file = forms.FileField(label="CSV file")
    zip_file = forms.FileField(
        label="Zip of JD files", required=False, help_text="Only when the jd column names files."
    )

    def clean_csv_file(self):
        return upload_within(self.cleaned_data["csv_file"], settings.CSV_MAX_BYTES)

    def clean_zip_file(self):
        return upload_within(self.cleaned_data["zip_file"], settings.CSV_ZIP_MAX_BYTES)


def import_upload(request, form: UploadForm, **options) -> tuple[ImportReport | None, str | None]:
    """(report, None), or (None, why the whole file was refused). "Check" is a dry run; the
    "_import" button writes (and pushes, when `push` says so)."""
    dry_run = "_import" not in request.POST
    push = options.pop("push", True) and not dry_run
    zipped = form.cleaned_data["zip_file"]
    try:
        report = import_roles(
            csv_bytes=form.cleaned_data["csv_file"].read(),
            zip_bytes=zipped.read() if zipped else None,
            dry_run=dry_run,
            push=push,
            user=request.user,
            **options,
        )
    except AppError as error:
        return None, error.message
    return report, None
