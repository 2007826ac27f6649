from pathlib import PurePosixPath
from urllib.parse import urlparse

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class DocumentType(models.TextChoices):
    JOB_DESCRIPTION = "job_description", "Job description"
    PROCESS_MAP = "process_map", "Process map"
    SOP = "sop", "SOP"
    OTHER = "other", "Other"


class DocumentFormat(models.TextChoices):
    PDF = "pdf", "PDF"
    DOCX = "docx", "DOCX"
    IMAGE = "image", "Image"
    TEXT = "text", "Text"
    OTHER = "other", "Other"


_FORMAT_BY_SUFFIX = {
    ".pdf": DocumentFormat.PDF,
    ".docx": DocumentFormat.DOCX,
    ".png": DocumentFormat.IMAGE,
    ".jpg": DocumentFormat.IMAGE,
    ".jpeg": DocumentFormat.IMAGE,
    ".gif": DocumentFormat.IMAGE,
    ".webp": DocumentFormat.IMAGE,
    ".tif": DocumentFormat.IMAGE,
    ".tiff": DocumentFormat.IMAGE,
    ".md": DocumentFormat.TEXT,
    ".txt": DocumentFormat.TEXT,
}
# PRODUCT.md: when a role has several JDs, PDF before DOCX before images before others.
FORMAT_PRIORITY: dict[str, int] = {DocumentFormat.PDF: 0, DocumentFormat.DOCX: 1, DocumentFormat.IMAGE: 2}


def detect_format(name: str) -> str:
    return _FORMAT_BY_SUFFIX.get(PurePosixPath(name.lower()).suffix, DocumentFormat.OTHER)


_ONE_SOURCE = (
    Q(file="", uri="") & ~Q(content="")
    | Q(content="", uri="") & ~Q(file="")
    | Q(file="", content="") & ~Q(uri="")
)


class RoleDocument(models.Model):
    role = models.ForeignKey("onboarding.Role", on_delete=models.CASCADE, related_name="documents")
    doc_type = models.CharField(
        "type", max_length=20, choices=DocumentType.choices, default=DocumentType.JOB_DESCRIPTION
    )
    name = models.CharField(max_length=255, blank=True)
    file = models.FileField(upload_to="documents/%Y/%m/", blank=True)
    content = models.TextField("inline text", blank=True)
    uri = models.URLField("URI", max_length=2000, blank=True)
    format = models.CharField(max_length=10, choices=DocumentFormat.choices, editable=False)
    # What the document says, hashed (onboarding/models/inputs.py): an assessment records the
    # hash of the JD it used, and a role is stale only when that hash changes.
    content_hash = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=_ONE_SOURCE, name="document_has_exactly_one_source"),
        ]

    def __str__(self) -> str:
        return self.name or f"{self.get_doc_type_display()} #{self.pk}"

    def clean(self) -> None:
        sources = [bool(self.file), bool(self.content.strip()), bool(self.uri)]
        if sum(sources) == 0:
            raise ValidationError("Give the document an uploaded file, inline text or a URI.")
        if sum(sources) > 1:
            raise ValidationError("Give the document one source only: a file, inline text or a URI.")
        limit = settings.JD_MAX_UPLOAD_BYTES
        if self.file and self.file.size > limit:
            raise ValidationError(
                f"The file is {self.file.size / 1_048_576:.1f} MB; at most {limit / 1_048_576:.0f} MB "
                "is accepted. Upload a smaller file or paste the text."
            )

    def save(self, *args, **kwargs) -> None:
        self.fill_derived()
        super().save(*args, **kwargs)

    def fill_derived(self) -> None:
        """Format, default name and content hash; bulk_create skips save(), so bulk writers
        call this."""
        from .inputs import document_digest

        self.format = self._detected_format()
        self.content_hash = document_digest(self)
        if not self.name:
            self.name = self._default_name()

    def _detected_format(self) -> str:
        if self.file.name:
            return detect_format(self.file.name)
        if self.uri:
            return detect_format(urlparse(self.uri).path)
        return DocumentFormat.TEXT

    def _default_name(self) -> str:
        if self.file.name:
            return PurePosixPath(self.file.name).name
        if self.uri:
            return PurePosixPath(urlparse(self.uri).path).name or self.uri
        return f"{self.get_doc_type_display()} (inline)"

    @property
    def priority(self) -> tuple:
        """Sort key: best format first, then newest first."""
        return (FORMAT_PRIORITY.get(self.format, 3), -self.created_at.timestamp(), -(self.pk or 0))
