"""CSV import of roles, with a dry run that checks every row before anything is stored.

Header: company,role_name,draup_role,occupation,job_family,jd[,on_existing]. `jd` is inline
text, a URL, or the name of a file inside the zip uploaded with the CSV; `on_existing` (skip,
update, reassess) says what to do with a role that exists, row by row, else the import's own
choice. The rows go through the one intake (onboarding/intake.py) that the API uses: the same
rules, companies limited to the user's, and the real run writes in one transaction.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from django.conf import settings
from django.db import transaction

from batches.models import Batch, BatchSource
from batches.services import batch_push
from onboarding.budgets import Estimate
from onboarding.errors import AppError, ValidationFailed
from onboarding.intake import DocumentItem, ItemResult, OnExisting, Outcome, RoleItem, intake, report_estimate
from onboarding.models import RunStatus
from onboarding.names import too_big

HEADER = ["company", "role_name", "draup_role", "occupation", "job_family", "jd"]
OPTIONAL = ["on_existing", "reason"]  # either, both in this order, or none; reason is not read
FILE_SUFFIXES = {".pdf", ".docx", ".doc", ".png", ".jpg", ".jpeg", ".gif", ".txt", ".md", ".rtf"}
CREATED, UPDATED, UNCHANGED, SKIPPED, REFUSED = (
    Outcome.CREATED,
    Outcome.UPDATED,
    Outcome.UNCHANGED,
    Outcome.SKIPPED,
    Outcome.REFUSED,
)


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
    sent: dict = field(default_factory=dict)  # a refused row's other columns, for the batch


@dataclass
class ImportReport:
    rows: list[RowResult]
    dry_run: bool
    batch: Batch | None = None
    estimate: Estimate | None = None  # a dry run's: what pushing the rows that pass would cost

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(row.action for row in self.rows)
        return {action: counts.get(action, 0) for action in (CREATED, UPDATED, UNCHANGED, SKIPPED, REFUSED)}


def import_roles(
    *,
    csv_bytes: bytes,
    zip_bytes: bytes | None = None,
    dry_run: bool = True,
    push: bool = False,
    user=None,
    name: str = "CSV import",
    on_existing: str = OnExisting.UPDATE,
    options: dict | None = None,
    into: Batch | None = None,
) -> ImportReport:
    """Check every row; unless `dry_run`, write the rows that pass in one transaction (and push
    them as a batch when `push`). A file-level problem refuses the whole file. `user` None is
    an operator's command: every company. `into`: push them as the next round of that batch
    (the fix-and-retry round trip, see `fix_csv`)."""
    _check_size("The CSV file", len(csv_bytes), settings.CSV_MAX_BYTES)
    records, optional = _read_rows(csv_bytes)
    attachments = _read_zip(zip_bytes)
    lines, items, rows = [], [], []
    for line, record in enumerate(records, start=2):
        row_or_item = _item(line, record, optional, attachments)
        if isinstance(row_or_item, RowResult):
            rows.append(row_or_item)
        else:
            lines.append(line)
            items.append(row_or_item)
    csv_refused = [row for row in rows if row.company or row.role_name]
    with transaction.atomic():
        report = intake(
            user=user,
            items=items,
            on_existing=on_existing,
            push=push,
            dry_run=dry_run,
            stale_reason="Inputs changed by a CSV import",
        )
        rows += [_row(line, result, lines) for line, result in zip(lines, report.results, strict=True)]
        result = ImportReport(rows=sorted(rows, key=lambda r: r.line), dry_run=dry_run)
        if dry_run:
            result.estimate = report_estimate(report)
        if push and not dry_run and (report.roles or into is not None):
            refused = [
                (r.item.company, r.item.role_name, r.error, r.item.sent) for r in report.refused if r.error
            ]
            refused += [
                (row.company, row.role_name, ValidationFailed(row.message), row.sent) for row in csv_refused
            ]
            result.batch = batch_push(
                role_ids=[role.pk for role in report.roles],
                user=user,
                source=BatchSource.CSV,
                name=name,
                refusals=refused,
                options=options,
                into=into,
                created=report.created,
            )
    return result


def _check_size(what: str, size: int, limit: int) -> None:
    if size > limit:
        raise CsvRefused(too_big(what, size, limit) + " Split it into smaller files.")


def _read_rows(csv_bytes: bytes) -> tuple[list[list[str]], list[str]]:
    if b"\x00" in csv_bytes:
        raise CsvRefused("The file contains NUL bytes (\\0): it is not a text CSV. Save it as 'CSV UTF-8'.")
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
    if header[: len(HEADER)] != HEADER or header[len(HEADER) :] not in ([], OPTIONAL[:1], OPTIONAL):
        raise CsvRefused(
            f"The header row must be exactly: {','.join(HEADER)} (optionally followed by "
            f",{OPTIONAL[0]} or ,{','.join(OPTIONAL)}) (found: {','.join(records[0])})."
        )
    rows = [r for r in records[1:] if any(cell.strip() for cell in r)]
    if not rows:
        raise CsvRefused("The file has a header but no roles.")
    if len(rows) > settings.CSV_MAX_ROWS:
        raise CsvRefused(
            f"The file has {len(rows):,} roles; at most {settings.CSV_MAX_ROWS:,} go in one "
            "import. Split it into smaller files."
        )
    return rows, header[len(HEADER) :]


class _TooBig:
    """A zip entry over the JD size limit: named, never read."""

    def __init__(self, size: int):
        self.size = size


def _read_zip(zip_bytes: bytes | None) -> dict[str, bytes | _TooBig]:
    """{file name: content} of the zip's files; one over the JD limit is not even unpacked."""
    if not zip_bytes:
        return {}
    _check_size("The zip file", len(zip_bytes), settings.CSV_ZIP_MAX_BYTES)
    limit = settings.JD_MAX_UPLOAD_BYTES
    files: dict[str, bytes | _TooBig] = {}
    try:
        with zipfile.ZipFile(io.BytesIO(zip_bytes)) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                name = PurePosixPath(info.filename).name
                if info.file_size > limit:
                    files[name] = _TooBig(info.file_size)
                    continue
                with archive.open(info) as fh:
                    content = fh.read(limit + 1)  # the declared size may lie: never unpack more
                files[name] = content if len(content) <= limit else _TooBig(len(content))
    except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError):
        raise CsvRefused(
            "The zip file cannot be opened: upload a .zip of the job description files."
        ) from None
    return files


def _item(line, record, optional, attachments) -> RoleItem | RowResult:
    """The row as an intake item, or the row refused for what only a CSV can get wrong."""
    width = len(HEADER) + len(optional)
    if len(record) != width:
        return RowResult(line, "", "", REFUSED, f"Expected {width} columns, found {len(record)}.")
    company, role_name, draup_role, occupation, job_family, jd, *rest = (c.strip() for c in record)
    choice = rest[0].lower() if rest else ""  # a reason column after it is for people only
    sent = {"draup_role_name": draup_role, "occupation": occupation, "job_family": job_family}
    if choice and choice not in OnExisting.values:
        message = f"on_existing must be one of {', '.join(OnExisting.values)}, not {choice!r}."
        return RowResult(line, company, role_name, REFUSED, message, sent)
    try:
        documents = _jd_documents(jd, attachments)
    except ValidationFailed as err:
        return RowResult(line, company, role_name, REFUSED, err.message, sent)
    return RoleItem(
        company=company,
        role_name=role_name,
        documents=documents,
        draup_role_name=draup_role,
        occupation=occupation,
        job_family=job_family,
        on_existing=choice,
    )


def _jd_documents(jd: str, attachments: dict[str, bytes | _TooBig]) -> list[DocumentItem]:
    if not jd:
        return []
    if jd.lower().startswith(("http://", "https://")):
        return [DocumentItem(uri=jd)]
    if "\n" not in jd and PurePosixPath(jd.lower()).suffix in FILE_SUFFIXES:
        name = PurePosixPath(jd).name
        content = attachments.get(name)
        if content is None:
            raise ValidationFailed(f"The JD file {jd!r} is not in the uploaded zip.")
        if isinstance(content, _TooBig):
            raise ValidationFailed(too_big(f"The JD file {jd!r}", content.size, settings.JD_MAX_UPLOAD_BYTES))
        return [DocumentItem(name=name, file_bytes=content)]
    return [DocumentItem(content=jd)]


def _row(line: int, result: ItemResult, lines: list[int]) -> RowResult:
    item = result.item
    message = result.message
    if result.error is not None and "duplicate_of" in result.error.extra:
        message = f"Duplicate of line {lines[result.error.extra['duplicate_of']]}."
    return RowResult(line, item.company, item.role_name, result.outcome, message)


def fix_csv(batch: Batch, user) -> str:
    """The batch's failed, degraded and refused roles that `user` may see, in the import
    format with the reason per row: fix them in a spreadsheet, upload the file back, and they
    go again as the next round of the batch. An empty jd keeps the role's stored JD."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER + OPTIONAL)
    failed = (
        batch.runs_visible_to(user)
        .filter(status__in=[RunStatus.FAILED, RunStatus.DEGRADED])
        .select_related("role__company")
        .order_by("role__company__name", "role__name")
    )
    for run in failed:
        role = run.role
        reason = (run.error or {}).get("message") or role.state_reason
        writer.writerow(_fix_row(role.company.name, role.name, role, reason))
    refusals = batch.refusals_visible_to(user).select_related("role__company").order_by("id")
    for refusal in refusals:
        refused_role = refusal.role
        company = refused_role.company.name if refused_role else refusal.company_name
        name = refused_role.name if refused_role else refusal.role_name
        writer.writerow(_fix_row(company, name, refused_role, refusal.message, refusal.sent))
    return out.getvalue()


def _fix_row(company: str, name: str, role, reason: str, sent: dict | None = None) -> list[str]:
    given = (
        {f: getattr(role, f) for f in ("draup_role_name", "occupation", "job_family")} if role else sent or {}
    )
    values = [given.get(f, "") for f in ("draup_role_name", "occupation", "job_family")]
    return [company, name, *values, "", OnExisting.UPDATE, reason]
