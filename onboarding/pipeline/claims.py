"""Which waiting runs a runner may take now: due retries first, then in queue order (push order,
urgent runs moved ahead), never more
than PIPELINE_COMPANY_CONCURRENCY held runs per company across all runners."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from onboarding.models import Company, Run

# A retry that is due goes before new work: its time was announced to the CSM. Then the queue
# order, where an urgent run stands ahead of recent normal ones (Run.queue_key).
CLAIM_ORDER = (F("next_attempt_at").asc(nulls_last=True), "queue_key", "id")


def claim_runs(
    *, token: str, limit: int, run_id: int | None = None, working_on: Iterable[int] = ()
) -> list[int]:
    """Lease up to `limit` claimable runs to `token`; the ids taken, in a few queries.
    `working_on`: runs this runner's threads still work on. A late heartbeat (a busy SQLite)
    can let their leases lapse; taking them again would start a second thread on one run."""
    now = timezone.now()
    candidates = Run.objects.claimable(now).exclude(pk__in=list(working_on))
    if run_id is not None:
        candidates = candidates.filter(pk=run_id)
    cap = settings.PIPELINE_COMPANY_CONCURRENCY
    if not cap:
        ids = candidates.order_by(*CLAIM_ORDER).values_list("pk", flat=True)[:limit]
        return Run.objects.claim(list(ids), token, now)
    full = _held_per_company(now).filter(held__gte=cap).values("role__company_id")
    rows = list(
        candidates.exclude(role__company_id__in=full)
        .order_by(*CLAIM_ORDER)
        .values_list("pk", "role__company_id")[:limit]
    )
    if not rows:
        return []
    companies = sorted({company for _, company in rows})
    with transaction.atomic():
        # One claimer per company at a time: two runners cannot both take its last slot.
        list(Company.objects.select_for_update().filter(pk__in=companies).order_by("pk").values_list("pk"))
        held = dict(
            _held_per_company(now)
            .filter(role__company_id__in=companies)
            .values_list("role__company_id", "held")
        )
        room = {company: cap - held.get(company, 0) for company in companies}
        chosen = []
        for pk, company in rows:
            if room[company] > 0:
                chosen.append(pk)
                room[company] -= 1
        return Run.objects.claim(chosen, token, now)


def _held_per_company(now):
    return Run.objects.held(now).values("role__company_id").annotate(held=Count("id"))


def claimable_exists() -> bool:
    return Run.objects.claimable(timezone.now()).exists()
