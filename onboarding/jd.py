"""Which job description a push sends, whether it can be read, and how draup-world gets it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core import signing
from django.urls import reverse

from onboarding.models import DocumentFormat, DocumentType, RoleDocument
from onboarding.models.documents import FORMAT_PRIORITY

_SIGNING_SALT = "onboarding.jd-download"
JD_LINK_MAX_AGE = 6 * 3600  # seconds: long enough for a queue of thousands, then it expires
_MAGIC: dict[str, tuple[bytes, ...]] = {DocumentFormat.PDF: (b"%PDF",), DocumentFormat.DOCX: (b"PK\x03\x04",)}


def pick_job_description(documents: Iterable[RoleDocument]) -> RoleDocument | None:
    """PDF before DOCX before images before others; among equals, the newest (one not yet
    stored, as the intake checks it, is newer than any stored)."""
    jds = [d for d in documents if d.doc_type == DocumentType.JOB_DESCRIPTION]
    return min(jds, key=_priority, default=None)


def _priority(doc: RoleDocument) -> tuple:
    if doc.pk is None:
        return (FORMAT_PRIORITY.get(doc.format, 3), float("-inf"), 0)
    return doc.priority


def unreadable_reason(doc: RoleDocument) -> str | None:
    """Why an uploaded JD cannot be sent, or None when it can."""
    pending = getattr(doc, "_pending_file", None)  # a file the intake has yet to store
    if not doc.file and pending is None:
        return None if (doc.content.strip() or doc.uri) else f"The job description {doc} is empty."
    if pending is not None:
        head = pending[:8]
    else:
        try:
            with doc.file.open("rb") as fh:
                head = fh.read(8)
        except (FileNotFoundError, OSError):
            return f"The job description file {doc.name} is missing from storage; upload it again."
    if not head:
        return f"The job description file {doc.name} is empty; upload it again."
    magic = _MAGIC.get(doc.format)
    if magic and not head.startswith(magic):
        return (
            f"The job description file {doc.name} is not a readable {doc.get_format_display()}; "
            "upload it again or paste the text."
        )
    return None


def link_payload(doc: RoleDocument) -> dict[str, Any]:
    """The part of the link-job-description request that carries the JD."""
    payload: dict[str, Any] = {
        "jd_content": None,
        "jd_uri": None,
        "metadata": {"document_name": doc.name, "document_type": doc.doc_type, "format": doc.format},
    }
    if doc.content.strip():
        payload["jd_content"] = doc.content
    elif doc.uri:
        payload["jd_uri"] = doc.uri
    else:
        payload["jd_uri"] = signed_download_url(doc)
    return payload


def signed_download_url(doc: RoleDocument) -> str:
    token = signing.dumps(doc.pk, salt=_SIGNING_SALT)
    return settings.SITE_URL + reverse("onboarding-document-download", args=[token])


def document_from_token(token: str) -> RoleDocument | None:
    try:
        pk = signing.loads(token, salt=_SIGNING_SALT, max_age=JD_LINK_MAX_AGE)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    return RoleDocument.objects.filter(pk=pk).first()
