"""Reads shared by the admin, the API and the status pages."""

from __future__ import annotations

from django.db.models import Q

from onboarding.models import Run, RunStatus


def queue_position(run: Run) -> int | None:
    """1 for the next run of its company to start; None when the run is not waiting."""
    if run.status != RunStatus.QUEUED:
        return None
    ahead = Run.objects.filter(
        Q(queued_at__lt=run.queued_at) | Q(queued_at=run.queued_at, pk__lt=run.pk),
        status=RunStatus.QUEUED,
        role__company_id=run.role.company_id,
    ).count()
    return ahead + 1
