"""What a push will cost before it starts, and the company budgets that can stop it.

The estimate comes from what recent runs really used (the `usage` each LLM-backed call returns,
kept per step) per character of their job description, applied to the JDs about to go; with no
history yet, LLM_TOKENS_PER_ROLE. Money is tokens at LLM_PRICE_PER_MILLION_TOKENS. A company's
monthly_token_budget bounds what its pushes may use in a calendar month: a push that would go
past it is refused whole, naming the budget, the estimate and who can raise it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db.models import Sum
from django.db.models.functions import Coalesce, Length
from django.utils import timezone

from onboarding.errors import AppError
from onboarding.models import Company, DocumentType, RoleDocument, Run, RunStatus, RunStep

HISTORY_RUNS = 200  # the recent finished runs the estimate learns from


class BudgetExceeded(AppError):
    status = 409

    def __init__(self, company: Company, *, budget: int, used: int, estimate: int):
        super().__init__(
            "BUDGET_EXCEEDED",
            f"{company.name}'s monthly budget is {budget:,} LLM tokens; {used:,} are used this month and "
            f"this push needs about {estimate:,} more. Nothing was queued. Push fewer roles, or ask a "
            "staff member who can set company budgets to raise it (admin → Companies).",
            recoverable=True,
            company=company.name,
            budget_tokens=budget,
            used_tokens=used,
            estimated_tokens=estimate,
        )


@dataclass
class CompanyEstimate:
    company: str
    roles: int = 0
    tokens: int = 0
    budget: int | None = None
    used_this_month: int = 0

    @property
    def left(self) -> int | None:
        return None if self.budget is None else max(0, self.budget - self.used_this_month)

    @property
    def fits(self) -> bool:
        return self.left is None or self.tokens <= self.left


@dataclass
class Estimate:
    roles: int = 0
    tokens: int = 0
    companies: list[CompanyEstimate] = field(default_factory=list)
    from_history: bool = False

    @property
    def cost(self) -> Decimal:
        return money(self.tokens)

    def as_dict(self) -> dict:
        return {
            "roles": self.roles,
            "estimated_tokens": self.tokens,
            "estimated_cost": str(self.cost),
            "currency": settings.LLM_PRICE_CURRENCY,
            "from_history": self.from_history,
            "companies": [
                {
                    "company": c.company,
                    "roles": c.roles,
                    "estimated_tokens": c.tokens,
                    "estimated_cost": str(money(c.tokens)),
                    "budget_tokens": c.budget,
                    "used_this_month": c.used_this_month,
                    "left_this_month": c.left,
                    "fits": c.fits,
                }
                for c in self.companies
            ],
        }


def money(tokens: int) -> Decimal:
    price = Decimal(str(settings.LLM_PRICE_PER_MILLION_TOKENS))
    return (price * tokens / Decimal(1_000_000)).quantize(Decimal("0.01"))


def month_start():
    return timezone.localtime().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def used_this_month(company_ids: list[int]) -> dict[int, int]:
    """{company id: tokens its runs' steps used since the month began}: one query."""
    rows = (
        RunStep.objects.filter(run__role__company_id__in=company_ids, finished_at__gte=month_start())
        .values("run__role__company_id")
        .annotate(n=Coalesce(Sum("input_tokens"), 0) + Coalesce(Sum("output_tokens"), 0))
    )
    return {row["run__role__company_id"]: row["n"] for row in rows}


def tokens_per_jd_character() -> float | None:
    """From the last finished runs: their tokens over the length of their roles' JDs (3 queries)."""
    runs = list(
        Run.objects.filter(status__in=[RunStatus.READY, RunStatus.DEGRADED])
        .order_by("-finished_at")
        .values_list("pk", "role_id")[:HISTORY_RUNS]
    )
    if not runs:
        return None
    used = RunStep.objects.filter(run_id__in=[pk for pk, _ in runs]).aggregate(
        n=Coalesce(Sum("input_tokens"), 0) + Coalesce(Sum("output_tokens"), 0)
    )["n"]
    chars = sum(jd_lengths([role for _, role in runs]).values())
    return used / chars if used and chars else None


def jd_lengths(role_ids: list[int]) -> dict[int, int]:
    """{role id: characters of its longest JD text (a file or URL counts as its size or 4,000)}."""
    lengths: dict[int, int] = defaultdict(int)
    docs = RoleDocument.objects.filter(role_id__in=role_ids, doc_type=DocumentType.JOB_DESCRIPTION)
    for role_id, n in docs.annotate(n=Length("content")).values_list("role_id", "n"):
        lengths[role_id] = max(lengths[role_id], n or 4000)
    return lengths


def estimate(roles) -> Estimate:
    """What pushing stored `roles` (with .company loaded) will cost, and each company's room."""
    roles = list(roles)
    lengths = jd_lengths([r.pk for r in roles])
    return estimate_for([(r.company, lengths.get(r.pk)) for r in roles])


def estimate_for(items: list[tuple[Company, int | None]]) -> Estimate:
    """The same for (company, characters of the JD) pairs: roles that may not be stored yet."""
    per_char = tokens_per_jd_character()
    by_company: dict[int, CompanyEstimate] = {}
    for company, chars in items:
        entry = by_company.setdefault(company.pk, CompanyEstimate(company.name))
        entry.roles += 1
        if per_char:
            entry.tokens += round(per_char * (chars or 4000))
        else:
            entry.tokens += settings.LLM_TOKENS_PER_ROLE
    companies = {c.pk: c for c in Company.objects.filter(pk__in=list(by_company))}
    used = used_this_month(list(by_company))
    for pk, entry in by_company.items():
        entry.budget = companies[pk].monthly_token_budget
        entry.used_this_month = used.get(pk, 0)
    return Estimate(
        roles=len(items),
        tokens=sum(e.tokens for e in by_company.values()),
        companies=sorted(by_company.values(), key=lambda e: e.company),
        from_history=per_char is not None,
    )


def check_budgets(roles) -> Estimate:
    """The estimate, or BudgetExceeded for the first company it would take past its budget."""
    result = estimate(roles)
    for entry in result.companies:
        if not entry.fits:
            company = next(r.company for r in roles if r.company.name == entry.company)
            raise BudgetExceeded(
                company, budget=entry.budget or 0, used=entry.used_this_month, estimate=entry.tokens
            )
    return result
