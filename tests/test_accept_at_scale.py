"""Accepting 2,500 roles at once costs the queries that accepting 10 does: push-batch with new
and with existing roles, the admin's "Push to Etter as a batch", and the CSV import."""

import sqlite3

import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from batches.models import Batch
from onboarding.bulk import bulk_update_fields
from onboarding.models import Role, RoleDocument, Run
from tests.factories import CompanyFactory, UserFactory

MANY = 2500
pytestmark = pytest.mark.django_db


def _sqlite_parameter_limit() -> int | None:
    """Parameters one statement may hold on SQLite (None on PostgreSQL: no such limit). A build
    option of the SQLite library: 32,766 by default, 250,000 in Debian's and Ubuntu's."""
    if "sqlite" not in settings.DATABASES["default"]["ENGINE"]:
        return None
    return sqlite3.connect(":memory:").getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)


# The biggest statement of a 2,500-role push is its run steps: 9 steps a run (issue 11), about
# 300,000 parameters. One statement on PostgreSQL; on SQLite as many as its limit needs
# (etter_site/sqlite_backend tells Django the real limit: 250,000 in Debian's build), so a
# 2,500-role push costs at most STATEMENTS_PAST_THE_LIMIT more there: still not one per role.
SQLITE_LIMIT = _sqlite_parameter_limit()
STATEMENTS_PAST_THE_LIMIT = 0 if SQLITE_LIMIT is None else 1 + 400_000 // SQLITE_LIMIT
constant_at_2500 = pytest.mark.skipif(
    SQLITE_LIMIT is not None and SQLITE_LIMIT < 100_000,
    reason=f"this SQLite allows {SQLITE_LIMIT} parameters a statement: 2,500 roles take many more",
)


def assert_constant(few: int, many: int) -> None:
    """The queries of 10 and of 2,500 roles: equal, but for SQLite's extra chunks of one insert."""
    assert few <= many <= few + STATEMENTS_PAST_THE_LIMIT, (few, many)


@pytest.fixture
def csm():
    user = UserFactory(can_push=True)
    for name in ("New", "Known"):
        CompanyFactory(name=name).csms.add(user)
    return user


@pytest.fixture
def api(csm):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=csm).key}")
    return client


def existing_roles(company_name: str, n: int, prefix: str) -> list[int]:
    company = CompanyFactory(name=company_name)
    roles = Role.objects.bulk_create(
        [Role(company=company, name=f"{prefix} {i}", draup_role_name="Analyst") for i in range(n)]
    )
    RoleDocument.objects.bulk_create(
        [RoleDocument(role=r, content=f"# {r.name}\nOld.", format="text") for r in roles]
    )
    return [r.pk for r in roles]


def push_batch_body(company: str, prefix: str, n: int) -> dict:
    return {
        "roles": [
            {
                "company_id": company,
                "role_name": f"{prefix} {i}",
                "draup_role_name": "Analyst",
                "documents": [{"type": "job_description", "content": f"# {prefix} {i}\nNew JD."}],
            }
            for i in range(n)
        ]
    }


@constant_at_2500
def test_push_batch_of_new_roles_costs_the_same_queries_for_10_or_2500(api, count_queries):
    def measure(n: int, prefix: str) -> int:
        body = push_batch_body("New", prefix, n)
        queries = count_queries(lambda: api.post("/api/v1/pipeline/push-batch", body, format="json"))
        assert Run.objects.filter(role__name__startswith=f"{prefix} ").count() == n
        return queries

    measure(1, "Warm")
    assert_constant(measure(10, "Few"), measure(MANY, "Many"))


@constant_at_2500
def test_push_batch_of_existing_roles_with_new_jds_costs_the_same_queries_for_10_or_2500(api, count_queries):
    def measure(n: int, prefix: str) -> int:
        ids = existing_roles("Known", n, prefix)
        body = push_batch_body("Known", prefix, n)
        queries = count_queries(lambda: api.post("/api/v1/pipeline/push-batch", body, format="json"))
        assert Run.objects.filter(role_id__in=ids).count() == n
        assert RoleDocument.objects.filter(role_id__in=ids).count() == 2 * n  # the new JDs attached
        return queries

    api.post("/api/v1/pipeline/push-batch", push_batch_body("Known", "Warm", 1), format="json")
    assert_constant(measure(10, "Few"), measure(MANY, "Many"))


@constant_at_2500
def test_the_admin_batch_action_costs_the_same_queries_for_10_or_2500_roles(admin_client, count_queries):
    def measure(n: int, prefix: str) -> int:
        ids = existing_roles(f"Admin {prefix}", n, prefix)
        queries = count_queries(
            lambda: admin_client.post(
                reverse("admin:onboarding_role_changelist"),
                {"action": "push_as_batch", "_selected_action": ids, "confirmed": "1"},
            )
        )
        assert Batch.objects.get(batch_id=Run.objects.get(role_id=ids[0]).batch_key).runs.count() == n
        return queries

    measure(1, "Warm")
    assert_constant(measure(10, "Few"), measure(MANY, "Many"))


@constant_at_2500
def test_the_csv_import_checks_and_imports_2500_rows_in_the_queries_of_10(admin_client, count_queries):
    def measure(n: int, company: str) -> tuple[int, int]:
        CompanyFactory(name=company)
        rows = "".join(f"{company},Role {i},Analyst,Analysts,Finance,# Role {i} does it\n" for i in range(n))
        data = ("company,role_name,draup_role,occupation,job_family,jd\n" + rows).encode()
        url = reverse("admin:onboarding_role_import_csv")

        def post(button: str):
            from django.core.files.uploadedfile import SimpleUploadedFile

            csv_file = SimpleUploadedFile("roles.csv", data, content_type="text/csv")
            return admin_client.post(url, {button: "1", "csv_file": csv_file})

        check = count_queries(lambda: post("_check"))
        assert not Role.objects.filter(company__name=company).exists()
        imported = count_queries(lambda: post("_import"))
        assert Role.objects.filter(company__name=company).count() == n
        return check, imported

    measure(1, "Warm")
    assert measure(10, "Few") == measure(MANY, "Many")  # (check, import): no run steps written


@pytest.mark.parametrize("n", [3, 1500])
def test_bulk_update_fields_writes_each_rows_own_values_nulls_and_times(n):
    company = CompanyFactory()
    roles = Role.objects.bulk_create([Role(company=company, name=f"R{i}") for i in range(n)])
    runs = Run.objects.bulk_create([Run(role=r) for r in roles[:2]])
    for i, role in enumerate(roles):
        role.state_reason = f"reason {i} with 'quotes'"
        role.processing_step = "AI_ASSESSMENT" if i % 2 else ""
        role.last_run = runs[i] if i < 2 else None
    assert bulk_update_fields(roles, ["state_reason", "processing_step", "last_run", "updated_at"]) == n
    stored = {r.pk: r for r in Role.objects.filter(company=company)}
    for i, role in enumerate(roles):
        got = stored[role.pk]
        assert (got.state_reason, got.processing_step, got.last_run_id, got.updated_at) == (
            role.state_reason,
            role.processing_step,
            runs[i].pk if i < 2 else None,
            role.updated_at,
        )
