"""A company's report for the customer, as a CSM sends it: roles ready with their scores, in
progress with when to expect them, and what the customer must send us. In the customer's
words: no internal ids, no simulator URLs, nothing only an engineer can act on.

It is shared as a PDF (ReportLab) or a read-only link that expires (a signed token: nothing
stored, nothing to clean up; CUSTOMER_REPORT_LINK_DAYS)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, TypedDict
from urllib.parse import urlparse

from django.conf import settings
from django.core import signing
from django.db.models import Exists, OuterRef
from django.utils import timezone

from onboarding.models import Company, DocumentType, Role, RoleDocument, RoleState, Run
from onboarding.selectors import pipeline_summary

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

_SALT = "onboarding.customer-report"
_UNREADABLE = "not a readable"


@dataclass
class ReportLine:
    role: str
    status: str
    detail: str = ""
    score: float | None = None
    link: str = ""


@dataclass
class CustomerReport:
    company: str
    made_at: datetime
    ready: list[ReportLine] = field(default_factory=list)
    in_progress: list[ReportLine] = field(default_factory=list)
    needs_you: list[ReportLine] = field(default_factory=list)
    not_started: list[ReportLine] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.ready) + len(self.in_progress) + len(self.needs_you) + len(self.not_started)


def company_report(company: Company) -> CustomerReport:
    """The report, in a constant number of queries whatever the number of roles."""
    jds = RoleDocument.objects.filter(role=OuterRef("pk"), doc_type=DocumentType.JOB_DESCRIPTION)
    roles = Role.objects.filter(company=company).select_related("last_run").annotate(has_jd=Exists(jds))
    eta = pipeline_summary(Run.objects.filter(role__company=company), Role.objects.filter(company=company))
    report = CustomerReport(company=company.name, made_at=timezone.now())
    for role in roles.order_by("name"):
        _place(report, role, eta["eta_seconds"])
    return report


class _HasJd(TypedDict):
    has_jd: bool


def _place(report: CustomerReport, role: WithAnnotations[Role, _HasJd], eta_seconds: float | None) -> None:
    state = role.state
    if state in (RoleState.READY, RoleState.DEGRADED):
        detail = "Some sections are still being completed." if state == RoleState.DEGRADED else ""
        report.ready.append(
            ReportLine(
                role.name, "Ready", detail, role.ai_automation_score, _customer_link(role.dashboard_url)
            )
        )
    elif state in (RoleState.QUEUED, RoleState.PROCESSING):
        report.in_progress.append(ReportLine(role.name, "In progress", _expected(eta_seconds)))
    elif state == RoleState.STALE:
        report.in_progress.append(
            ReportLine(
                role.name,
                "Being refreshed",
                "Its job description or mapping changed; it will be assessed again.",
            )
        )
    elif not role.has_jd:
        report.needs_you.append(
            ReportLine(role.name, "Waiting for you", f"Please send us the job description for {role.name}.")
        )
    elif state == RoleState.VALIDATION_ERROR and _UNREADABLE in role.state_reason:
        report.needs_you.append(
            ReportLine(
                role.name,
                "Waiting for you",
                f"The job description we have for {role.name} cannot be read: please send it again "
                "as PDF, Word or plain text.",
            )
        )
    elif state == RoleState.FAILED:
        report.in_progress.append(
            ReportLine(role.name, "In progress", "We are completing it; no action needed.")
        )
    else:
        report.not_started.append(
            ReportLine(role.name, "Not started yet", "Scheduled by your Customer Success Manager.")
        )


def _expected(eta_seconds: float | None) -> str:
    if not eta_seconds:
        return "Expected soon."
    minutes = max(1, round(eta_seconds / 60))
    if minutes < 90:
        return f"Expected within about {minutes} minutes."
    return f"Expected within about {round(minutes / 60)} hours."


def _customer_link(url: str) -> str:
    """A dashboard link the customer can open; never one to our built-in simulator."""
    if not url or urlparse(url).path.startswith("/simulator/"):
        return ""
    return url


# --- sharing ------------------------------------------------------------------------------


def share_token(company: Company) -> str:
    return signing.dumps({"company": company.pk}, salt=_SALT, compress=True)


def company_from_token(token: str) -> Company | None:
    """The company of a link that is still valid; None once it expired or if it was altered."""
    try:
        data = signing.loads(token, salt=_SALT, max_age=settings.CUSTOMER_REPORT_LINK_DAYS * 86400)
    except signing.BadSignature:  # SignatureExpired included
        return None
    return Company.objects.filter(pk=data.get("company")).first()


# --- the PDF -----------------------------------------------------------------------------


def report_pdf(report: CustomerReport) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        title=f"{report.company}: Etter onboarding",
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=18 * mm,
        bottomMargin=18 * mm,
    )
    made = timezone.localtime(report.made_at).strftime("%d %B %Y, %H:%M %Z")
    story = [
        Paragraph(f"{_escape(report.company)}: your roles on Etter", styles["Title"]),
        Paragraph(
            f"{len(report.ready)} of {report.total} roles ready · {len(report.in_progress)} in progress · "
            f"{len(report.needs_you)} waiting for you. As of {made}.",
            styles["Normal"],
        ),
        Spacer(1, 6 * mm),
    ]
    sections = [
        ("Waiting for you", report.needs_you, False),
        ("Ready", report.ready, True),
        ("In progress", report.in_progress, False),
        ("Not started yet", report.not_started, False),
    ]
    for title, lines, with_score in sections:
        if not lines:
            continue
        story.append(Paragraph(title, styles["Heading2"]))
        header: list[str | Paragraph] = (
            ["Role", "AI automation score", "Notes"] if with_score else ["Role", "Notes"]
        )
        rows = [header]
        for line in lines:
            note = Paragraph(_escape(line.detail or line.status), styles["BodyText"])
            if with_score:
                score = f"{line.score:.0f} / 100" if line.score is not None else "-"
                rows.append([Paragraph(_escape(line.role), styles["BodyText"]), score, note])
            else:
                rows.append([Paragraph(_escape(line.role), styles["BodyText"]), note])
        widths = [70 * mm, 35 * mm, 69 * mm] if with_score else [70 * mm, 104 * mm]
        table = Table(rows, colWidths=widths, repeatRows=1)
        table.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f2937")),
                    ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#d1d5db")),
                    ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#f3f4f6")]),
                ]
            )
        )
        story += [table, Spacer(1, 5 * mm)]
    doc.build(story)
    return buffer.getvalue()


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
