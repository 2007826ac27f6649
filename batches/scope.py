"""What one viewer sees of a batch, as a value that every viewer who sees the same shares.

Polled faces of a batch (batch-status, the live partial) keep one answer per scope, not per
user: fifty CSMs of one company polling the same batch share one computation. A scope is the
set of visible companies (or all of them) and whether the viewer sees the batch whole (its
pusher, or staff who see every company: they also see refusals with no role). The queries
here filter by the scope's company ids, never by the user, so an answer computed for one user
is exactly the answer for anyone else with the same scope.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.db.models import Q, QuerySet

from batches.models import Batch, BatchRefusal, sees_every_company
from onboarding.models import Company, Run, RunStep
from onboarding.polling import digest


def viewer_companies(user) -> tuple[int, ...] | None:
    """The ids of the companies `user` sees (None: every company), remembered by this process
    for API_AUTH_CACHE_SECONDS like the token's user: a poll does not query them. A CSM given
    or taken a company sees the change within that time."""
    cache = caches["status"]
    key = f"viewer-companies:{user.pk}"
    held = cache.get(key)
    if held is None:
        ids = None
        if not sees_every_company(user):
            ids = tuple(Company.objects.filter(csms=user).order_by("pk").values_list("pk", flat=True))
        held = (ids,)  # a tuple around it: None is the cache's "not there"
        cache.set(key, held, settings.API_AUTH_CACHE_SECONDS)
    return held[0]


@dataclass(frozen=True)
class BatchScope:
    company_ids: tuple[int, ...] | None  # None: every company
    whole: bool  # sees the refusals with no role (the pusher; staff who see every company)

    @classmethod
    def of(cls, batch: Batch, user) -> BatchScope:
        ids = viewer_companies(user)
        return cls(ids, ids is None or batch.created_by_id == user.pk)

    @property
    def key(self) -> str:
        companies = "all" if self.company_ids is None else digest(self.company_ids)
        return f"{companies}:{'whole' if self.whole else 'part'}"

    def runs(self, batch: Batch) -> QuerySet[Run]:
        """As Batch.runs_visible_to, for this scope."""
        if self.company_ids is None:
            return batch.runs
        return batch.runs.filter(role__company_id__in=self.company_ids)

    def refusals(self, batch: Batch) -> QuerySet[BatchRefusal]:
        """As Batch.refusals_visible_to, for this scope."""
        if self.company_ids is None:
            return batch.refusals.all()
        mine = Q(role__company_id__in=self.company_ids)
        return batch.refusals.filter(mine | Q(role__isnull=True) if self.whole else mine)

    def steps(self, batch: Batch) -> QuerySet[RunStep]:
        """The steps of the batch's runs in this scope (tokens used, progress per step)."""
        steps = RunStep.objects.filter(run__batch_key=batch.batch_id)
        if self.company_ids is None:
            return steps
        return steps.filter(run__role__company_id__in=self.company_ids)
