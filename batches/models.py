"""A batch is bookkeeping: who pushed which roles when. Each role's run stays independent."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from onboarding.models import Company, Role, Run


def new_batch_id() -> str:
    return f"batch-{uuid.uuid4().hex}"


class BatchSource(models.TextChoices):
    ADMIN = "admin", "Admin"
    API = "api", "API"
    CSV = "csv", "CSV import"
    COMMAND = "command", "Command"


def sees_every_company(user) -> bool:
    """Staff with the global view, or the system itself (user None: commands and jobs)."""
    return user is None or user.is_superuser or user.has_perm("onboarding.view_all_companies")


class BatchQuerySet(models.QuerySet):
    def visible_to(self, user) -> BatchQuerySet:
        """Staff with the global view see all; a CSM sees batches that touch their companies (a
        run or a refused role of theirs), and the ones they pushed (which may hold only
        refusals of companies that do not exist)."""
        if sees_every_company(user):
            return self
        companies = Company.objects.visible_to(user)
        runs = Run.objects.filter(role__company__in=companies).values("batch_key")
        refused = BatchRefusal.objects.filter(role__company__in=companies).values("batch_id")
        return self.filter(models.Q(batch_id__in=runs) | models.Q(pk__in=refused) | models.Q(created_by=user))

    def seen_whole_by(self, user) -> BatchQuerySet:
        """The batches `user` sees as they were pushed, name and all (see Batch.seen_whole_by)."""
        return self if sees_every_company(user) else self.filter(created_by=user)


class Batch(models.Model):
    batch_id = models.CharField(max_length=64, unique=True, default=new_batch_id, editable=False)
    name = models.CharField(max_length=255, blank=True)
    source = models.CharField(max_length=10, choices=BatchSource.choices, default=BatchSource.ADMIN)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    requested = models.PositiveIntegerField(default=0, help_text="roles asked for in the push")
    # 1 for the push; each fix-and-retry import (its failed and refused roles, corrected in a
    # spreadsheet and uploaded back) is the next round of the same batch.
    round = models.PositiveSmallIntegerField(default=1)

    objects = BatchQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return self.name or self.batch_id

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("status-batch", args=[self.pk])

    @property
    def runs(self) -> models.QuerySet[Run]:
        """Every run pushed in this batch, whoever may see it (see `runs_visible_to`)."""
        return Run.objects.filter(batch_key=self.batch_id)

    def seen_whole_by(self, user) -> bool:
        """The pusher and staff who see every company see the batch as it was pushed. Its name
        and the count of roles asked for are the pusher's words about every role in it
        ("2,500 roles from the admin", a CSV file's name), so nobody else sees them."""
        return sees_every_company(user) or self.created_by_id == user.pk

    def as_seen_by(self, user) -> Batch:
        """This batch as `user` may see it: without the pusher's name and count unless they
        see the whole batch (then it shows as its batch id). For display only, never saved."""
        if not self.seen_whole_by(user):
            # None, not 0: the admin shows its empty value ("-"), not a count of zero. The
            # column is never null in the table: this instance is never saved.
            self.name, self.requested = "", None  # type: ignore[assignment]
        return self

    def runs_visible_to(self, user) -> models.QuerySet[Run]:
        """The batch's runs of the companies `user` may see: what every face of a batch shows."""
        if sees_every_company(user):
            return self.runs
        return self.runs.filter(role__company__in=Company.objects.visible_to(user))

    def refusals_visible_to(self, user) -> models.QuerySet[BatchRefusal]:
        """Refusals of roles in the user's companies; a refusal with no role (an unknown company
        or role) only to the person who pushed the batch, since it names what they sent."""
        if sees_every_company(user):
            return self.refusals.all()
        visible = Role.objects.visible_to(user).values("pk")
        mine = models.Q(role__isnull=True) & models.Q(batch__created_by=user)
        return self.refusals.filter(models.Q(role__in=visible) | mine)


class BatchRefusal(models.Model):
    """A role the batch could not queue, and why, in words a CSM can act on."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="refusals")
    role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    company_name = models.CharField(max_length=200, blank=True)
    role_name = models.CharField(max_length=255, blank=True)
    code = models.CharField(max_length=40)
    message = models.TextField()
    round = models.PositiveSmallIntegerField(default=1)
    # What was sent for a role refused before it existed (its mapping, occupation, family),
    # so that the fix-and-retry CSV gives it back; never the JD itself.
    sent = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.role_name}: {self.message}"
