"""Idempotent push: 50 parallel pushes of one role over real HTTP create exactly one run."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from rest_framework.authtoken.models import Token

from onboarding.models import Role, Run
from tests.factories import CompanyFactory, UserFactory, ready_role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("role_exists", [True, False], ids=["stored role", "new role"])
def test_50_parallel_pushes_of_one_role_create_exactly_one_run(live_server, role_exists):
    user = UserFactory(can_push=True)
    company = CompanyFactory(name="Liberty Mutual")
    company.csms.add(user)
    headers = {"Authorization": f"Token {Token.objects.create(user=user).key}"}
    body = {"company_id": "Liberty Mutual", "role_name": "Claims Adjuster"}
    if role_exists:
        ready_role(company=company, name="Claims Adjuster")
    else:
        body.update(draup_role_name="Claims", documents=[{"type": "job_description", "content": "# Claims"}])

    def push(_):
        response = requests.post(
            f"{live_server.url}/api/v1/pipeline/push", json=body, headers=headers, timeout=60
        )
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(push, range(50)))
    run = Run.objects.get()
    assert Role.objects.filter(name="Claims Adjuster").count() == 1
    codes = sorted(code for code, _ in answers)
    assert codes.count(200) == 1 and codes.count(409) == 49, codes
    assert all(b["detail"]["workflow_id"] == run.workflow_id for code, b in answers if code == 409)
