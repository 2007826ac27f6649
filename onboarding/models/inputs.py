"""What an assessment was made from, and whether that changed: the one place that hashes a
role's inputs (its job description, by content, and its Draup mapping).

Every path that can change an input (the admin, an API push, a CSV import, a replaced
document) asks `changes_by_role`; a role is stale only when its inputs now hash differently
from those its last assessment recorded. Line endings and surrounding whitespace are not
content: a browser posts a textarea with CRLF, and a round trip through a form must hash the
same.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.utils import timezone

if TYPE_CHECKING:
    from .documents import RoleDocument
    from .role import Role

JOB_DESCRIPTION = "job description"
MAPPING = "Draup mapping"
UNRECORDED = "inputs not recorded at the assessment"


def normalised_text(text: str) -> str:
    """CRLF and CR -> LF, surrounding whitespace off: what counts as the text's content."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _sha256(kind: str, data: bytes) -> str:
    return hashlib.sha256(kind.encode() + b":" + data).hexdigest()


def document_digest(doc: RoleDocument) -> str:
    """The document's content hash: inline text (normalised), a URI, or an uploaded file's bytes."""
    if doc.content.strip():
        return _sha256("text", normalised_text(doc.content).encode())
    if doc.uri:
        return _sha256("uri", doc.uri.strip().encode())
    if doc.file:
        return _file_digest(doc.file)
    return ""


def _file_digest(file) -> str:
    digest = hashlib.sha256(b"file:")
    try:
        file.open("rb")  # an upload not yet stored is read where it is, and stays open
        try:
            for chunk in file.chunks():
                digest.update(chunk)
        finally:
            if file._committed:
                file.close()
    except OSError:  # gone from storage: hash the name, so a re-upload counts as a change
        return _sha256("missing-file", file.name.encode())
    return digest.hexdigest()


def _digest_of(doc: RoleDocument | None) -> str:
    if doc is None:
        return ""
    return doc.content_hash or document_digest(doc)


def inputs_hash(jd: RoleDocument | None, *, draup_role_id: str, draup_role_name: str) -> str:
    parts = ["etter-inputs-v1", _digest_of(jd), draup_role_id.strip(), draup_role_name.strip()]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def role_inputs_hash(role: Role, jd: RoleDocument | None) -> str:
    return inputs_hash(jd, draup_role_id=role.draup_role_id, draup_role_name=role.draup_role_name)


def jd_copy(doc: RoleDocument | None) -> dict[str, Any] | None:
    """What the JD was, kept for showing a diff later (the text itself, or where it was)."""
    if doc is None:
        return None
    return {
        "document_id": doc.pk,
        "name": doc.name,
        "format": doc.format,
        "text": normalised_text(doc.content) if doc.content.strip() else None,
        "uri": doc.uri or None,
        "file": doc.file.name if doc.file and not doc.content.strip() and not doc.uri else None,
        "digest": _digest_of(doc),
    }


def inputs_copy(role: Role, jd: RoleDocument | None, *, workflow_id: str = "") -> dict[str, Any]:
    """The copy an assessment keeps of its inputs (Role.assessed_inputs)."""
    return {
        "jd": jd_copy(jd),
        "draup_role_id": role.draup_role_id.strip(),
        "draup_role_name": role.draup_role_name.strip(),
        "recorded_at": timezone.now().isoformat(),
        "workflow_id": workflow_id,
    }


def linked_job_description(run_id: int | None) -> RoleDocument | None:
    """The JD document a run's role setup linked on draup-world (None when it linked none)."""
    from .documents import RoleDocument
    from .run import RunStep

    if run_id is None:
        return None
    output = RunStep.objects.filter(run_id=run_id, name="role_setup").values_list("output", flat=True).first()
    doc_id = (output or {}).get("jd_document_id")
    return RoleDocument.objects.filter(pk=doc_id).first() if doc_id else None


def current_job_descriptions(
    roles: Iterable[Role], *, with_text: bool = True
) -> dict[int, RoleDocument | None]:
    """{role pk: the JD a push would send now}, in one query. Comparing hashes needs no text:
    `with_text=False` leaves thousands of JDs' text in the database."""
    from onboarding.jd import pick_job_description

    from .documents import DocumentType, RoleDocument

    by_role: dict[int, list[RoleDocument]] = {r.pk: [] for r in roles}
    docs = RoleDocument.objects.filter(role__in=list(by_role), doc_type=DocumentType.JOB_DESCRIPTION)
    if not with_text:
        docs = docs.defer("content")
    for doc in docs:
        by_role[doc.role_id].append(doc)
    return {pk: pick_job_description(docs) for pk, docs in by_role.items()}


def what_changed(role: Role, jd: RoleDocument | None) -> list[str]:
    """Which inputs differ from those the last assessment recorded ([] when none)."""
    if role_inputs_hash(role, jd) == role.assessed_inputs_hash:
        return []
    before = role.assessed_inputs
    if not role.assessed_inputs_hash or not before:
        return [UNRECORDED]
    changed = []
    if (before.get("jd") or {}).get("digest", "") != _digest_of(jd):
        changed.append(JOB_DESCRIPTION)
    if (before.get("draup_role_id"), before.get("draup_role_name")) != (
        role.draup_role_id.strip(),
        role.draup_role_name.strip(),
    ):
        changed.append(MAPPING)
    return changed or [UNRECORDED]


def changes_by_role(roles: Iterable[Role]) -> dict[int, list[str]]:
    """{role pk: what changed since its last assessment}, for many roles in one query."""
    roles = list(roles)
    jds = current_job_descriptions(roles, with_text=False)
    return {role.pk: what_changed(role, jds[role.pk]) for role in roles}


def stored_inputs_hash(role_pk: int) -> str:
    """The hash of a role's inputs as they are stored now (before an edit is saved)."""
    from .role import Role

    role = Role.objects.get(pk=role_pk)
    return role_inputs_hash(role, current_job_descriptions([role], with_text=False)[role.pk])
