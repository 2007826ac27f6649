"""The customer report's faces: a PDF for the CSM to send, and a read-only link that expires,
which the customer opens without logging in."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from onboarding.customer_report import company_from_token, company_report, report_pdf, share_token
from onboarding.models import Company


def _company(request: HttpRequest, pk: int) -> Company:
    return get_object_or_404(Company.objects.visible_to(request.user), pk=pk)


def _pdf(company: Company) -> HttpResponse:
    response = HttpResponse(report_pdf(company_report(company)), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{company.name} - Etter onboarding.pdf"'
    return response


@login_required
def report_download(request: HttpRequest, pk: int) -> HttpResponse:
    return _pdf(_company(request, pk))


@login_required
@require_POST
def report_share(request: HttpRequest, pk: int) -> HttpResponse:
    company = _company(request, pk)
    link = request.build_absolute_uri(reverse("customer-report", args=[share_token(company)]))
    days = settings.CUSTOMER_REPORT_LINK_DAYS
    messages.success(request, f"A read-only link for {company.name}, valid for {days} days: {link}")
    return redirect("status-company", pk=company.pk)


def _shared(token: str) -> Company | None:
    return company_from_token(token)


def shared_report(request: HttpRequest, token: str) -> HttpResponse:
    company = _shared(token)
    if company is None:
        return render(request, "report/expired.html", status=410)
    context = {"report": company_report(company), "token": token}
    response = render(request, "report/shared.html", context)
    response["X-Robots-Tag"] = "noindex"
    response["Referrer-Policy"] = "no-referrer"  # the link is the key: never pass it on
    return response


def shared_report_pdf(request: HttpRequest, token: str) -> HttpResponse:
    company = _shared(token)
    if company is None:
        return render(request, "report/expired.html", status=410)
    return _pdf(company)
