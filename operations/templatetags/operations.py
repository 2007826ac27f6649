"""SLA lines for the status pages (role, batch, company): one aggregate query each."""

from __future__ import annotations

from django import template
from django.db.models import Count, Q

from batches.models import sees_every_company
from onboarding.models import Company

from ..models import SlaRecord

register = template.Library()


@register.inclusion_tag("operations/_sla_role.html")
def sla_for_run(run) -> dict:
    record = SlaRecord.objects.filter(run=run).first() if run else None
    return {"record": record}


@register.inclusion_tag("operations/_sla_counts.html")
def sla_for_batch(batch, user) -> dict:
    """Only the runs of the companies `user` sees: a batch may mix companies."""
    records = SlaRecord.objects.filter(batch=batch)
    if not sees_every_company(user):
        records = records.filter(company__in=Company.objects.visible_to(user))
    return {"counts": _counts(records), "what": "this batch", "batch": batch}


@register.inclusion_tag("operations/_sla_counts.html")
def sla_for_company(company) -> dict:
    return {
        "counts": _counts(SlaRecord.objects.filter(company=company)),
        "what": "this company",
        "company": company,
    }


def _counts(records) -> dict:
    return records.aggregate(
        total=Count("pk"),
        missed=Count("pk", filter=Q(breached=True)),
        in_flight=Count("pk", filter=Q(breached=True, completed_at__isnull=True)),
    )
