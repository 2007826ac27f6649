"""Cost before and after: a push's LLM tokens and cost are estimated from what recent runs
used for JDs of that length; a company's monthly budget stops a push that would go past it,
naming the budget, the estimate and who can raise it; the usage so far shows on its page."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from batches.models import Batch
from onboarding.budgets import estimate
from onboarding.models import Company, Role, Run, RunStatus, RunStep
from tests.factories import ready_role

pytestmark = pytest.mark.django_db
BASE = "/api/v1/pipeline/"


def used(company, tokens: int, jd_chars: int = 1000):
    """A finished run of the company that used `tokens` for a JD of `jd_chars` characters."""
    role = ready_role(company=company, name=f"Done {Role.objects.count()}")
    role.documents.update(content="x" * jd_chars)
    run = Run.objects.create(role=role, status=RunStatus.READY, finished_at=timezone.now())
    RunStep.objects.create(
        run=run,
        name="ai_assessment",
        position=1,
        status="completed",
        finished_at=timezone.now(),
        input_tokens=tokens - tokens // 4,
        output_tokens=tokens // 4,
    )


def test_the_estimate_learns_tokens_per_jd_character_from_recent_runs(liberty, settings):
    settings.LLM_PRICE_PER_MILLION_TOKENS = 10.0
    role = ready_role(company=liberty, name="Analyst")
    role.documents.update(content="y" * 3000)
    first = estimate([role])
    assert not first.from_history and first.tokens == settings.LLM_TOKENS_PER_ROLE
    used(liberty, 8000, jd_chars=2000)  # 4 tokens per character
    learned = estimate(Role.objects.filter(pk=role.pk).select_related("company"))
    assert learned.from_history and learned.tokens == 12000 and str(learned.cost) == "0.12"


def test_a_push_past_the_monthly_budget_is_refused_whole(api, liberty):
    Company.objects.filter(pk=liberty.pk).update(monthly_token_budget=20000)
    used(liberty, 16000)  # 16 tokens a character, 16,000 used this month
    role = ready_role(company=liberty, name="Analyst")
    role.documents.update(content="a" * 1000)  # about 16,000 tokens: past the 4,000 left
    roles = [{"company_id": "Liberty Mutual", "role_name": "Analyst"}]
    before = (Run.objects.count(), Batch.objects.count())
    response = api.post(BASE + "push-batch", {"roles": roles}, format="json")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert detail["error"] == "BUDGET_EXCEEDED" and detail["budget_tokens"] == 20000
    assert "Liberty Mutual's monthly budget is 20,000 LLM tokens; 16,000 are used" in detail["message"]
    assert "ask a staff member who can set company budgets" in detail["message"]
    assert (Run.objects.count(), Batch.objects.count()) == before


def test_a_dry_run_shows_the_estimate_and_budget_left_and_writes_nothing(api, liberty):
    Company.objects.filter(pk=liberty.pk).update(monthly_token_budget=100000)
    used(liberty, 4000, jd_chars=1000)
    item = {
        "company_id": "Liberty Mutual",
        "role_name": "New",
        "draup_role_name": "N",
        "documents": [{"content": "z" * 500}],
    }
    before = (Role.objects.count(), Run.objects.count(), Batch.objects.count())
    body = api.post(BASE + "push-batch?dry_run=true", {"roles": [item]}, format="json").json()
    assert body["dry_run"] is True and body["batch_id"] is None
    assert body["accepted"] == [
        {"company_id": "Liberty Mutual", "role_name": "New", "workflow_id": None, "role_outcome": "created"}
    ]
    company = body["estimate"]["companies"][0]
    assert company == {
        "company": "Liberty Mutual",
        "roles": 1,
        "estimated_tokens": 2000,
        "estimated_cost": "0.01",
        "budget_tokens": 100000,
        "used_this_month": 4000,
        "left_this_month": 96000,
        "fits": True,
    }
    assert (Role.objects.count(), Run.objects.count(), Batch.objects.count()) == before


def test_the_admin_confirms_a_batch_with_its_cost_first(admin_client, liberty):
    Company.objects.filter(pk=liberty.pk).update(monthly_token_budget=5000)
    role = ready_role(company=liberty, name="Analyst")
    url = reverse("admin:onboarding_role_changelist")
    page = admin_client.post(url, {"action": "push_as_batch", "_selected_action": [role.pk]})
    text = page.content.decode()
    assert page.status_code == 200 and "Push these roles to Etter as a batch?" in text
    assert "over budget: this push would be refused" in text and not Run.objects.exists()
    Company.objects.filter(pk=liberty.pk).update(monthly_token_budget=None)
    pushed = admin_client.post(
        url, {"action": "push_as_batch", "_selected_action": [role.pk], "confirmed": "1"}
    )
    assert pushed.status_code == 302 and Run.objects.count() == 1


def test_only_staff_allowed_to_set_budgets_can_change_one(client, csm, liberty):
    liberty.csms.add(csm)
    csm.is_staff = True
    csm.save()
    csm.user_permissions.add(Permission.objects.get(codename="change_company"))
    client.force_login(csm)
    page = client.get(reverse("admin:onboarding_company_change", args=[liberty.pk])).content.decode()
    assert 'name="monthly_token_budget"' not in page
    csm.user_permissions.add(Permission.objects.get(codename="set_budget"))
    page = client.get(reverse("admin:onboarding_company_change", args=[liberty.pk])).content.decode()
    assert 'name="monthly_token_budget"' in page


def test_the_company_page_shows_usage_against_the_budget(client, csm, liberty):
    Company.objects.filter(pk=liberty.pk).update(monthly_token_budget=50000)
    used(liberty, 12000)
    client.force_login(csm)
    page = client.get(reverse("status-company", args=[liberty.pk])).content.decode()
    assert "12,000 of 50,000 LLM tokens used this month" in page
