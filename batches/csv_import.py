"""CSV import of roles, with a dry run that checks every row before anything is stored.

Header: company,role_name,draup_role,occupation,job_family,jd. `jd` is inline text, a URL, or
the name of a file inside the zip uploaded with the CSV. The real run validates the same way
and writes everything in one transaction, or nothing.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import URLValidator
from django.db import transaction

from onboarding.bulk import bulk_update_fields
from onboarding.errors import AppError
from onboarding.models import Company, DocumentType, Role, RoleDocument
from onboarding.services import roles_mark_stale

HEADER = ["company", "role_name", "draup_role", "occupation", "job_family", "jd"]
FILE_SUFFIXES = {".pdf", ".docx", ".doc", ".png", ".jpg", ".jpeg", ".gif", ".txt", ".md", ".rtf"}
CREATED, UPDATED, UNCHANGED, REFUSED = "created", "updated", "unchanged", "refused"


class CsvRefused(AppError):
    def __init__(self, message: str):
        super().__init__("VALIDATION_ERROR", message, recoverable=True)


@dataclass
class RowResult:
    line: int
    company: str
    role_name: str
    action: str
    message: str = ""
    # What the real run writes for this row (not shown to people).
    role: Role | None = None
    fields: dict = field(default_factory=dict)
    jd: RoleDocument | None = None


@dataclass
class ImportReport:
    rows: list[RowResult]
    dry_run: bool
    batch: object = None

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(row.action for row in self.rows)
        return {action: counts.get(action, 0) for action in (CREATED, UPDATED, UNCHANGED, REFUSED)}

    @property
    def role_ids(self) -> list[int]:
        return [row.role.pk for row in self.rows if row.action != REFUSED and row.role and row.role.pk]


def import_roles(
    *,
    csv_bytes: bytes,
    zip_bytes: bytes | None = None,
    dry_run: bool = True,
    push: bool = False,
    user=None,
    name: str = "CSV import",
) -> ImportReport:
    """Check every row; unless `dry_run`, write the rows that pass in one transaction (and push
    them as a batch when `push`). A file-level problem refuses the whole file."""
    records = _read_rows(csv_bytes)
    attachments = _read_zip(zip_bytes)
    with transaction.atomic():
        rows = _check(records, attachments)
        report = ImportReport(rows=rows, dry_run=dry_run)
        if not dry_run:
            _write(rows, user)
            if push and report.role_ids:
                from batches.models import BatchSource
                from batches.services import batch_push

                report.batch = batch_push(
                    role_ids=report.role_ids, user=user, source=BatchSource.CSV, name=name
                )
    return report


def _read_rows(csv_bytes: bytes) -> list[list[str]]:
    try:
        text = csv_bytes.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise CsvRefused(
            f"The file is not UTF-8 text (bad byte at position {err.start}): "
            "save it as 'CSV UTF-8' and upload it again."
        ) from None
    try:
        records = list(csv.reader(io.StringIO(text)))
    except csv.Error as err:
        raise CsvRefused(f"The file is not valid CSV: {err}.") from None
    if not records:
        raise CsvRefused("The file is empty: it needs the header row and at least one role.")
    header = [h.strip().lower() for h in records[0]]
    if header != HEADER:
        raise CsvRefused(
            f"The header row must be exactly: {','.join(HEADER)} (found: {','.join(records[0])})."
        )
    rows = [r for r in records[1:] if any(cell.strip() for cell in r)]
    if not rows:
        raise CsvRefused("The file has a header but no roles.")
    if len(rows) > settings.CSV_MAX_ROWS:
        raise CsvRefused(
            f"The file has {len(rows):,} roles; at most {settings.CSV_MAX_ROWS:,} go in one "
            "import. Split it into smaller files."
        )
    return rows


def _read_zip(zip_bytes: bytes | None) -> dict[str, bytes]:
    if not zip_bytes:
        return {}
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            return {
                PurePosixPath(info.filename).name: archive.read(info)
                for info in archive.infolist()
                if not info.is_dir()
            }
    except (zipfile.BadZipFile, OSError):
        raise CsvRefused(
            "The zip file cannot be opened: upload a .zip of the job description files."
        ) from None


def _check(records: list[list[str]], attachments: dict[str, bytes]) -> list[RowResult]:
    names = {r[0].strip() for r in records if r}
    companies = {c.name: c for c in Company.objects.filter(name__in=names)}
    existing = {
        (r.company_id, r.name): r
        for r in Role.objects.filter(
            company__in=companies.values(), name__in={r[1].strip() for r in records if len(r) > 1}
        )
    }
    jds: dict[int, list[RoleDocument]] = {}
    for doc in RoleDocument.objects.filter(role__in=existing.values(), doc_type=DocumentType.JOB_DESCRIPTION):
        jds.setdefault(doc.role_id, []).append(doc)
    seen: dict[tuple[str, str], int] = {}
    results = []
    for line, record in enumerate(records, start=2):
        results.append(_check_row(line, record, companies, existing, jds, attachments, seen))
    return results


def _check_row(line, record, companies, existing, jds, attachments, seen) -> RowResult:
    if len(record) != len(HEADER):
        return RowResult(line, "", "", REFUSED, f"Expected {len(HEADER)} columns, found {len(record)}.")
    company_name, role_name, draup_role, occupation, job_family, jd = (c.strip() for c in record)
    row = RowResult(line, company_name, role_name, REFUSED)
    if not company_name or not role_name:
        row.message = "Company and role_name are required."
        return row
    key = (company_name.casefold(), role_name.casefold())
    if key in seen:
        row.message = f"Duplicate of line {seen[key]}."
        return row
    seen[key] = line
    company = companies.get(company_name)
    if company is None:
        row.message = f"Unknown company {company_name!r}: create it in the admin first."
        return row
    role = existing.get((company.pk, role_name))
    fields = {"draup_role_name": draup_role, "occupation": occupation, "job_family": job_family}
    try:
        doc = _jd_document(jd, attachments)
    except ValueError as err:
        row.message = str(err)
        return row
    if doc is None and (role is None or not jds.get(role.pk)):
        row.message = "Missing JD: give the text, a URL or a file name from the zip."
        return row
    row.fields, row.jd = fields, doc
    if role is None:
        row.action, row.role = CREATED, Role(company=company, name=role_name, **fields)
        return row
    row.role = role
    changed = any(getattr(role, k) != v for k, v in fields.items() if v)
    new_jd = doc is not None and not any(_same_jd(doc, old) for old in jds.get(role.pk, []))
    row.action = UPDATED if changed or new_jd else UNCHANGED
    if not new_jd:
        row.jd = None
    return row


def _jd_document(jd: str, attachments: dict[str, bytes]) -> RoleDocument | None:
    if not jd:
        return None
    if jd.lower().startswith(("http://", "https://")):
        try:
            URLValidator()(jd)
        except ValidationError:
            raise ValueError(f"The JD URL {jd!r} is not a valid URL.") from None
        return RoleDocument(uri=jd)
    if "\n" not in jd and PurePosixPath(jd.lower()).suffix in FILE_SUFFIXES:
        content = attachments.get(PurePosixPath(jd).name)
        if content is None:
            raise ValueError(f"The JD file {jd!r} is not in the uploaded zip.")
        if not content:
            raise ValueError(f"The JD file {jd!r} in the zip is empty.")
        doc = RoleDocument(name=PurePosixPath(jd).name)
        doc._pending_file = content
        return doc
    return RoleDocument(content=jd)


def _same_jd(new: RoleDocument, old: RoleDocument) -> bool:
    if new.content:
        return new.content == old.content
    if new.uri:
        return new.uri == old.uri
    return False  # an uploaded file is always a new version


def _write(rows: list[RowResult], user) -> None:
    new_roles = [row.role for row in rows if row.action == CREATED]
    Role.objects.bulk_create(new_roles)
    updated = [row for row in rows if row.action == UPDATED]
    for row in updated:
        for name, value in row.fields.items():
            if value:
                setattr(row.role, name, value)
    bulk_update_fields([row.role for row in updated], ["draup_role_name", "occupation", "job_family"])
    roles_mark_stale([row.role for row in updated], reason="Inputs changed by a CSV import", user=user)
    documents = []
    for row in rows:
        if row.action in (CREATED, UPDATED) and row.jd is not None:
            doc = row.jd
            doc.role, doc.doc_type = row.role, DocumentType.JOB_DESCRIPTION
            pending = getattr(doc, "_pending_file", None)
            if pending is not None:
                doc.file.save(doc.name, ContentFile(pending), save=False)
            doc.fill_derived()
            documents.append(doc)
    RoleDocument.objects.bulk_create(documents)
