from django.conf import settings
from django.db import models


class CompanyQuerySet(models.QuerySet):
    def visible_to(self, user) -> "CompanyQuerySet":
        """Staff with the global view see every company; a CSM sees the ones assigned to them."""
        if user.is_superuser or user.has_perm("onboarding.view_all_companies"):
            return self
        return self.filter(csms=user)


class Company(models.Model):
    name = models.CharField(max_length=200, unique=True)
    csms = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="companies",
        verbose_name="CSMs",
        help_text="Customer Success Managers who may see and push this company's roles.",
    )
    # LLM tokens the company's pushes may use per calendar month (empty: no limit). Set by staff
    # who may ("Can set company budgets"); a push that would go past it is refused.
    monthly_token_budget = models.PositiveBigIntegerField(
        "monthly token budget",
        null=True,
        blank=True,
        help_text="LLM tokens per calendar month (input + output); empty means no limit.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CompanyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "companies"
        permissions = [
            ("view_all_companies", "Can see every company, not only assigned ones"),
            ("set_budget", "Can set company budgets"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(name__regex=r"\S"), name="company_name_not_blank"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("status-company", args=[self.pk])
