"""Turns API push requests into roles: finds or creates each role in a company the user may
see, and attaches the documents given. Many requests cost a constant number of queries."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction

from onboarding.bulk import bulk_update_fields
from onboarding.errors import AppError, NotFound, ValidationFailed
from onboarding.models import Company, DocumentType, Role, RoleDocument
from onboarding.services import roles_mark_stale


@dataclass
class PushRequest:
    company_id: str
    role_name: str
    documents: list[dict]
    draup_role_id: str = ""
    draup_role_name: str = ""


def roles_for_requests(*, user, requests: list[PushRequest]) -> tuple[dict[int, Role], dict[int, AppError]]:
    """{index: role} for the requests that resolve, {index: error} for those that do not."""
    companies = {
        c.name: c for c in Company.objects.visible_to(user).filter(name__in={r.company_id for r in requests})
    }
    roles, errors, seen = {}, {}, {}
    for i, req in enumerate(requests):
        if req.company_id not in companies:
            errors[i] = NotFound(f"No company named {req.company_id!r} (or it is not assigned to you).")
        elif (req.company_id, req.role_name) in seen:
            errors[i] = ValidationFailed(
                f"{req.role_name} is in this request twice (item {seen[req.company_id, req.role_name]})."
            )
        else:
            seen[req.company_id, req.role_name] = i
    wanted = {i: req for i, req in enumerate(requests) if i not in errors}
    existing = {
        (r.company_id, r.name): r
        for r in Role.objects.filter(
            company__in=companies.values(), name__in={r.role_name for r in wanted.values()}
        )
    }
    missing = {}
    for i, req in wanted.items():
        company = companies[req.company_id]
        role = existing.get((company.pk, req.role_name))
        if role is None:
            role = missing[i] = Role(company=company, name=req.role_name)
        _apply_mapping(role, req)
        roles[i] = role
    _save_roles(list(missing.values()), [r for i, r in roles.items() if i not in missing])
    _attach_documents(roles, wanted)
    return roles, errors


def _apply_mapping(role: Role, req: PushRequest) -> None:
    if req.draup_role_id:
        role.draup_role_id = req.draup_role_id
    if req.draup_role_name:
        role.draup_role_name = req.draup_role_name


def _save_roles(new: list[Role], known: list[Role]) -> None:
    try:
        with transaction.atomic():
            Role.objects.bulk_create(new)
    except IntegrityError:
        # Another request created one of these roles at the same moment: take what is stored.
        for role in new:
            stored, _ = Role.objects.get_or_create(
                company=role.company,
                name=role.name,
                defaults={"draup_role_id": role.draup_role_id, "draup_role_name": role.draup_role_name},
            )
            role.pk, role._state.adding = stored.pk, False
    bulk_update_fields(known, ["draup_role_id", "draup_role_name"])


def _attach_documents(roles: dict[int, Role], wanted: dict[int, PushRequest]) -> None:
    """Attach the given documents, skipping any the role already has (a repeated push)."""
    stored = set(
        RoleDocument.objects.filter(role__in=roles.values()).values_list(
            "role_id", "doc_type", "content", "uri"
        )
    )
    documents = []
    for i, req in wanted.items():
        for doc in req.documents:
            document = RoleDocument(
                role=roles[i],
                doc_type=doc.get("type") or DocumentType.JOB_DESCRIPTION,
                uri=doc.get("uri") or "",
                content=doc.get("content") or "",
                name=doc.get("name") or "",
            )
            key = (roles[i].pk, document.doc_type, document.content, document.uri)
            if key in stored:
                continue
            stored.add(key)
            document.fill_derived()
            documents.append(document)
    RoleDocument.objects.bulk_create(documents)
    changed = {d.role_id for d in documents if d.doc_type == DocumentType.JOB_DESCRIPTION}
    roles_mark_stale(
        [r for r in roles.values() if r.pk in changed], reason="A new job description was pushed"
    )
