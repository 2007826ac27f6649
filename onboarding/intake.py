"""The one intake: every way roles come in (API push, API push-batch, the admin CSV import,
`import_roles`) hands its items here. The intake finds or creates each role in a company the
user may see, attaches the job descriptions given, applies one set of rules (names, sizes,
formats, NUL bytes), and writes nothing for an item it refuses. Many items cost a constant
number of queries.

Names match ignoring case and runs of whitespace ("claims  adjuster " is "Claims Adjuster").
An item naming a role that exists says so, and the caller chooses what happens to it
(`OnExisting`): skip it, update it (its inputs; it is re-assessed only if they changed), or
re-assess it whatever changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import URLValidator
from django.db import IntegrityError, models, transaction

from onboarding.bulk import bulk_update_fields, create_objects
from onboarding.errors import AlreadyInFlight, AppError, InvalidTransition, NotFound, ValidationFailed
from onboarding.models import Company, DocumentType, Role, RoleDocument, RoleState
from onboarding.models.documents import detect_format
from onboarding.models.role import IN_FLIGHT, PUSHABLE
from onboarding.names import name_key, normalize_name, normalize_text, too_big
from onboarding.services import check_push_permission, role_problems, roles_mark_stale

MAPPING = ("draup_role_id", "draup_role_name")
DESCRIPTIVE = ("occupation", "job_family")
_FIELD_LIMITS = {"draup_role_id": 100, "draup_role_name": 255, "occupation": 255, "job_family": 255}


class OnExisting(models.TextChoices):
    SKIP = "skip", "Skip it: leave the existing role as it is"
    UPDATE = "update", "Update it: re-assess only if its inputs changed"
    REASSESS = "reassess", "Re-assess it, even if nothing changed"


class Outcome(models.TextChoices):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    REFUSED = "refused"


@dataclass
class DocumentItem:
    doc_type: str = DocumentType.JOB_DESCRIPTION
    content: str = ""
    uri: str = ""
    name: str = ""
    file_bytes: bytes | None = None  # a file from the CSV import's zip


@dataclass
class RoleItem:
    company: str
    role_name: str
    documents: list[DocumentItem] = field(default_factory=list)
    draup_role_id: str = ""
    draup_role_name: str = ""
    occupation: str = ""
    job_family: str = ""
    on_existing: str = ""  # this item's own choice (a CSV column); else the call's

    @property
    def sent(self) -> dict[str, str]:
        """The item's fields besides its names and documents, as a refusal records them."""
        return {f: getattr(self, f) for f in (*MAPPING, *DESCRIPTIVE)}


@dataclass
class ItemResult:
    index: int
    item: RoleItem
    outcome: str = Outcome.REFUSED
    role: Role | None = None
    error: AppError | None = None
    changes: list[str] = field(default_factory=list)  # what the item changes, in words
    # What the write does for this item.
    field_values: dict[str, str] = field(default_factory=dict)
    new_documents: list[RoleDocument] = field(default_factory=list)
    choice: str = OnExisting.UPDATE
    reassess: bool = False
    # Created, but another request stored the same role first: it is that request's row, to be
    # read and locked like any stored role (see IntakeReport.created).
    raced: bool = False

    @property
    def known_role(self) -> Role:
        """The role an accepted or skipped item names; only a refused item may have none."""
        assert self.role is not None, f"item {self.index} was refused: it names no role"
        return self.role

    @property
    def existed(self) -> bool:
        return self.role is not None and self.outcome != Outcome.CREATED

    @property
    def message(self) -> str:
        if self.error is not None:
            return self.error.message
        if self.outcome == Outcome.SKIPPED:
            role = self.known_role
            return f"{role.name} already exists ({role.get_state_display()}): skipped."
        return "; ".join(self.changes)


@dataclass
class IntakeReport:
    results: list[ItemResult]
    dry_run: bool

    @property
    def accepted(self) -> list[ItemResult]:
        return [r for r in self.results if r.outcome not in (Outcome.REFUSED, Outcome.SKIPPED)]

    @property
    def refused(self) -> list[ItemResult]:
        return [r for r in self.results if r.outcome == Outcome.REFUSED]

    @property
    def roles(self) -> list[Role]:
        return [r.role for r in self.accepted if r.role is not None]

    @property
    def created(self) -> list[tuple[Role, list[RoleDocument]]]:
        """The roles this intake stored itself, with their documents: what `roles_push(created=...)`
        need not read (nor lock) again in the same transaction, as no other can see them yet."""
        return [
            (r.known_role, r.new_documents)
            for r in self.accepted
            if r.outcome == Outcome.CREATED and not r.raced
        ]


def intake(
    *,
    user,
    items: list[RoleItem],
    on_existing: str = OnExisting.UPDATE,
    push: bool = False,
    dry_run: bool = False,
    stale_reason: str = "Inputs changed",
) -> IntakeReport:
    """Check every item, then (unless `dry_run`) write the ones that pass, in one transaction.

    `user` None is the system (a command): every company. With `push`, an item is accepted only
    if its role can then be pushed (a JD, a Draup mapping, not in flight, something to assess):
    the caller pushes `report.roles`, and a refused item has written nothing."""
    if push:
        check_push_permission(user)
    companies = _companies(user, items)
    existing, documents = _existing_roles(companies, items)
    seen: dict[tuple[int, str], int] = {}
    results = []
    for index, item in enumerate(items):
        result = ItemResult(index, item)
        try:
            _check(result, companies, existing, documents, seen, on_existing, push)
        except AppError as error:
            result.outcome, result.error = Outcome.REFUSED, error
        results.append(result)
    report = IntakeReport(results, dry_run)
    if not dry_run:
        with transaction.atomic():
            _write(report.accepted, user, stale_reason)
    return report


# --- reading what is stored ----------------------------------------------------------------


def _companies(user, items: list[RoleItem]) -> dict[str, Company]:
    """{name key: company} for the companies named that `user` may see (others stay unknown)."""
    visible = Company.objects.all() if user is None else Company.objects.visible_to(user)
    wanted = {name_key(i.company) for i in items if i.company}
    found = visible.filter(name__in={normalize_name(i.company) for i in items if i.company})
    by_key = {name_key(c.name): c for c in found}
    if len(by_key) < len(wanted):  # a name in another case: match it without a query per item
        for company in visible.only("pk", "name"):
            by_key.setdefault(name_key(company.name), company)
    return {k: c for k, c in by_key.items() if k in wanted}


def _existing_roles(
    companies: dict[str, Company], items: list[RoleItem]
) -> tuple[dict[tuple[int, str], Role], dict[int, list[RoleDocument]]]:
    """The roles the items name, by (company, name key), and their JDs: three queries."""
    by_pk = {c.pk: c for c in companies.values()}
    keys = {name_key(i.role_name) for i in items}
    names = Role.objects.filter(company_id__in=list(by_pk)).values_list("pk", "company_id", "name")
    wanted = {pk: (company_id, name_key(name)) for pk, company_id, name in names if name_key(name) in keys}
    roles = Role.objects.select_related("last_run").in_bulk(list(wanted))
    for role in roles.values():
        role.company = by_pk[role.company_id]  # one company object each, not one a role
    existing = {wanted[pk]: role for pk, role in roles.items()}
    documents: dict[int, list[RoleDocument]] = {}
    for doc in RoleDocument.objects.filter(role_id__in=list(wanted), doc_type=DocumentType.JOB_DESCRIPTION):
        documents.setdefault(doc.role_id, []).append(doc)
    return existing, documents


# --- the rules -----------------------------------------------------------------------------


def _check(result, companies, existing, documents, seen, on_existing, push) -> None:
    item = result.item
    _check_text(item)
    company = companies.get(name_key(item.company))
    if company is None:
        # The same words whether the company does not exist or is not the user's: nothing leaks.
        raise NotFound(f"Unknown company {item.company!r}: it does not exist or is not assigned to you.")
    key = (company.pk, name_key(item.role_name))
    if key in seen:
        first = seen[key]
        raise ValidationFailed(
            f"{normalize_name(item.role_name)} is given twice (item {first + 1}).", duplicate_of=first
        )
    seen[key] = result.index
    new_documents = [_document(d) for d in item.documents]
    role = existing.get(key)
    if role is None:
        _plan_new(result, company, new_documents, push)
    else:
        _plan_existing(result, role, documents.get(role.pk, []), new_documents, on_existing, push)


def _check_text(item: RoleItem) -> None:
    texts = [item.company, item.role_name, *(getattr(item, f) for f in (*MAPPING, *DESCRIPTIVE))]
    texts += [t for d in item.documents for t in (d.content, d.uri, d.name, d.doc_type)]
    if any("\x00" in t for t in texts):
        raise ValidationFailed("The item contains a NUL byte (\\0): remove it and send it again.")
    if not normalize_name(item.company) or not normalize_name(item.role_name):
        raise ValidationFailed("A company and a role name are required.")
    if len(normalize_name(item.role_name)) > 255:
        raise ValidationFailed("The role name is longer than 255 characters.")
    for name, limit in _FIELD_LIMITS.items():
        if len(getattr(item, name).strip()) > limit:
            raise ValidationFailed(f"{name} is longer than {limit} characters.")


def _document(doc: DocumentItem) -> RoleDocument:
    """A document to store, once it passes the rules of size, source and format."""
    limit = settings.JD_MAX_UPLOAD_BYTES
    size = len(doc.file_bytes) if doc.file_bytes is not None else len(doc.content.encode())
    if size > limit:
        raise ValidationFailed(too_big(f"The job description {doc.name}".strip(), size, limit))
    if doc.file_bytes is not None:
        if not doc.file_bytes:
            raise ValidationFailed(f"The job description file {doc.name!r} is empty.")
        document = RoleDocument(doc_type=doc.doc_type, name=doc.name, format=detect_format(doc.name))
        document._pending_file = doc.file_bytes  # type: ignore[attr-defined]
        return document
    if bool(doc.uri) == bool(doc.content.strip()):
        raise ValidationFailed("Give each document exactly one of a URI and text.")
    if doc.uri:
        try:
            URLValidator(schemes=["http", "https"])(doc.uri)
        except ValidationError:
            raise ValidationFailed(f"The document URL {doc.uri!r} is not a valid http(s) URL.") from None
        if len(doc.uri) > 2000:
            raise ValidationFailed("The document URL is longer than 2,000 characters.")
    document = RoleDocument(doc_type=doc.doc_type, content=doc.content, uri=doc.uri, name=doc.name)
    document.fill_derived()
    return document


def _same_document(new: RoleDocument, old: RoleDocument) -> bool:
    if getattr(new, "_pending_file", None) is not None:
        return False  # an uploaded file is always a new version
    if new.content:
        return normalize_text(new.content) == normalize_text(old.content)
    return bool(new.uri) and new.uri == old.uri


def _given_fields(item: RoleItem) -> dict[str, str]:
    return {f: getattr(item, f).strip() for f in (*MAPPING, *DESCRIPTIVE) if getattr(item, f).strip()}


def _plan_new(result: ItemResult, company: Company, documents: list[RoleDocument], push: bool) -> None:
    item = result.item
    if not any(d.doc_type == DocumentType.JOB_DESCRIPTION for d in documents):
        raise ValidationFailed("Missing JD: a new role needs a job description (text, a URL or a file).")
    role = Role(company=company, name=normalize_name(item.role_name), **_given_fields(item))
    if push:
        _refuse_unpushable(role, documents)
    result.outcome, result.role = Outcome.CREATED, role
    result.field_values, result.new_documents = _given_fields(item), documents


def _plan_existing(result, role, stored, documents, on_existing, push) -> None:
    choice = result.choice = result.item.on_existing or on_existing
    result.role = role
    if choice == OnExisting.SKIP:
        result.outcome = Outcome.SKIPPED
        return
    given = _given_fields(result.item)
    fields = {f: v for f, v in given.items() if getattr(role, f) != v}
    new_docs = [d for d in documents if not any(_same_document(d, old) for old in stored)]
    result.field_values, result.new_documents = fields, new_docs
    result.changes = [f"{f.replace('_', ' ')}: {getattr(role, f) or '-'} -> {v}" for f, v in fields.items()]
    result.changes += ["a new job description"] * bool(new_docs)
    result.outcome = Outcome.UPDATED if result.changes else Outcome.UNCHANGED
    inputs_change = bool(new_docs) or any(f in MAPPING for f in fields)
    result.reassess = choice == OnExisting.REASSESS or (inputs_change and role.state == RoleState.READY)
    if push:
        _refuse_unpushable(role, [*stored, *new_docs], fields, will_be_stale=result.reassess)


def _refuse_unpushable(role, documents, fields=None, *, will_be_stale=False) -> None:
    """Raise what a push of the role, with the item's changes, would refuse, before any write."""
    if role.state in IN_FLIGHT:
        workflow_id = role.last_run.workflow_id if role.last_run else ""
        raise AlreadyInFlight(workflow_id=workflow_id, role_name=role.name)
    pushable = role.state in PUSHABLE or role.state == RoleState.VALIDATION_ERROR
    if not pushable and not will_be_stale:
        raise InvalidTransition(
            current=role.state,
            target=RoleState.QUEUED,
            message=(
                f"{role.name} is {role.get_state_display()} with these inputs: nothing to assess. "
                "Send on_existing=reassess to run the assessment again."
            ),
        )
    mapped = any((fields or {}).get(f, getattr(role, f)) for f in MAPPING)
    problems = role_problems(role, documents, mapped=mapped)
    if problems:
        raise ValidationFailed(" ".join(problems))


# --- writing -------------------------------------------------------------------------------


def _write(accepted: list[ItemResult], user, stale_reason: str) -> None:
    created = [r for r in accepted if r.outcome == Outcome.CREATED]
    raced = _create_roles([r.known_role for r in created])
    for result in created:
        result.raced = result.known_role.pk in raced
    updated = [r for r in accepted if r.outcome == Outcome.UPDATED and r.field_values]
    for result in updated:
        for name, value in result.field_values.items():
            setattr(result.known_role, name, value)
    changed_fields = sorted({f for r in updated for f in r.field_values})
    if changed_fields:
        bulk_update_fields([r.known_role for r in updated], [*changed_fields, "updated_at"])
    documents = []
    for result in accepted:
        for doc in result.new_documents:
            doc.role = result.known_role
            pending = getattr(doc, "_pending_file", None)
            if pending is not None:  # stored now: its name (and so its format) may change
                doc.file.save(doc.name, ContentFile(pending), save=False)
                doc.fill_derived()
            documents.append(doc)
    create_objects(documents)
    existing = [r for r in accepted if r.outcome != Outcome.CREATED]
    # Changed inputs make a READY role STALE (only if they hash differently from what was
    # assessed); "reassess" makes it STALE whatever changed.
    roles_mark_stale(
        [r.known_role for r in existing if r.reassess and r.choice != OnExisting.REASSESS],
        reason=stale_reason,
        user=user,
    )
    roles_mark_stale(
        [r.known_role for r in existing if r.choice == OnExisting.REASSESS],
        reason="A new assessment was asked for",
        user=user,
        force=True,
    )


def _create_roles(roles: list[Role]) -> set[int]:
    """Store the new roles; returns the ids of those another request stored first."""
    try:
        with transaction.atomic():
            create_objects(roles)
        return set()
    except IntegrityError:
        # Another request created one of these roles at the same moment: take what is stored.
        raced = set()
        for role in roles:
            stored, made = Role.objects.get_or_create(
                company=role.company,
                name=role.name,
                defaults={f: getattr(role, f) for f in (*MAPPING, *DESCRIPTIVE)},
            )
            role.pk, role._state.adding = stored.pk, False
            if not made:
                raced.add(stored.pk)
        return raced


def report_estimate(report: IntakeReport):
    """What the accepted items of a (dry-run) report would cost: their new JD, else the stored."""
    from onboarding.budgets import estimate_for, jd_lengths

    stored = jd_lengths([r.role.pk for r in report.accepted if r.role is not None and r.role.pk])
    items = []
    for result in report.accepted:
        role = result.known_role
        new = [len(d.content) or len(getattr(d, "_pending_file", b"")) for d in result.new_documents]
        items.append((role.company, max(new) if new else stored.get(role.pk)))
    return estimate_for(items)
