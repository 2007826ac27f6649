"""What tests/test_api_schema*.py share: the schema, a small world with real ids, and one call
that checks an answer against everything the schema promises.

schemathesis makes the requests from our OpenAPI schema (its examples, coverage and fuzzing
phases; valid and invalid input). Each request is sent twice: as generated, and with its ids
replaced by real ones (the path's workflow, company and batch ids, and the company of push
bodies), so that the 200 answers are held to the schema as well as the refusals. Every answer
must be no 5xx, a documented status code and content type, and a body that conforms to the
documented schema. The two files split the operations so that xdist runs them side by side.
"""

from __future__ import annotations

import collections
import itertools
from dataclasses import dataclass

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from batches.services import batch_push
from etter_site.wsgi import application
from onboarding import services
from onboarding.models import RoleState, RunAttempt, RunStatus
from tests.factories import CompanyFactory, UserFactory, force_state, ready_role

schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def fuzz(max_examples: int) -> settings:
    """Hypothesis settings: `max_examples` per operation in the fuzzing phase (the examples and
    coverage phases add theirs); the same requests every run (derandomize), so a failure
    found once is found again."""
    return settings(
        max_examples=max_examples, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
    )


COMPANY = "Liberty Mutual"


@dataclass
class World:
    csm_token: str
    operator_token: str
    workflow_ids: itertools.cycle
    batch_id: str


def make_world() -> World:
    """A CSM of Liberty Mutual with a ready role, a batch, a queued, a failed (with attempts)
    and a ready run; and an operator who may see the stats."""
    csm = UserFactory(can_push=True)
    company = CompanyFactory(name=COMPANY)
    company.csms.add(csm)
    ready_role(company=company, name="Claims Adjuster")
    batch = batch_push(role_ids=[ready_role(company=company).pk for _ in range(2)], user=csm)
    queued = services.role_push(role=ready_role(company=company), user=csm)
    failed = services.role_push(role=ready_role(company=company), user=csm)
    error = {"error": "SERVER_ERROR", "message": "draup-world had trouble", "recoverable": True}
    failed.__class__.objects.filter(pk=failed.pk).update(
        status=RunStatus.FAILED, error=error, finished_at=timezone.now()
    )
    force_state(failed.role, RoleState.FAILED)
    for number, outcome in [(1, "retrying"), (2, "failed")]:
        RunAttempt.objects.create(
            run=failed,
            step="role_setup",
            call="create_company_role",
            number=number,
            max_attempts=2,
            outcome=outcome,
            started_at=timezone.now(),
            finished_at=timezone.now(),
            duration_ms=12,
            http_status=503,
            error=error,
        )
    ready = services.role_push(role=ready_role(company=company), user=csm)
    ready.__class__.objects.filter(pk=ready.pk).update(status=RunStatus.READY, finished_at=timezone.now())
    return World(
        csm_token=Token.objects.create(user=csm).key,
        operator_token=Token.objects.create(user=UserFactory(is_superuser=True)).key,
        workflow_ids=itertools.cycle([failed.workflow_id, ready.workflow_id, queued.workflow_id]),
        batch_id=batch.batch_id,
    )


@pytest.fixture
def world(db):
    # As Django's test client does: the WSGI app must not close the test's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield make_world()
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def check_both_ways(case, world: World, tally: collections.Counter) -> None:
    """The request as generated, then with real ids: each answer checked against the schema."""
    _call(case, world.csm_token, tally)
    if _use_real_ids(case, world):
        operator = case.operation.path.endswith("/stats")  # staff who see every company only
        _call(case, world.operator_token if operator else world.csm_token, tally)


def _call(case, token: str, tally: collections.Counter) -> None:
    cache.clear()  # the API's throttle counts in the default cache: no 429 after 600 requests
    checks = CHECKS
    if case.operation.path.endswith("/health"):
        # 503 is health's documented answer when a part is down (no workers run in the tests);
        # its code and body are still held to the schema.
        checks = [check for check in CHECKS if check is not not_a_server_error]
    tally[case.operation.label] += 1
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=checks)


def _use_real_ids(case, world: World) -> bool:
    real = {"workflow_id": next(world.workflow_ids), "batch_id": world.batch_id}
    changed = False
    for name in list(case.path_parameters or {}):
        case.path_parameters[name] = real.get(name, COMPANY)  # company_name, company_id: a name
        changed = True
    body = case.body if isinstance(case.body, dict) else None
    if body is not None and isinstance(body.get("company_id"), str):
        body["company_id"], changed = COMPANY, True
    for item in body.get("roles", []) if body is not None and isinstance(body.get("roles"), list) else []:
        if isinstance(item, dict) and isinstance(item.get("company_id"), str):
            item["company_id"], changed = COMPANY, True
    return changed or case.operation.path.endswith("/stats")


def assert_enough_requests(tally: collections.Counter, labels: set[str], at_least: int) -> None:
    """Once every operation of a file has run: it made at least `at_least` requests."""
    if set(tally) >= labels:
        total = sum(tally.values())
        print(f"\nschema fuzzing: {total} requests", dict(sorted(tally.items())))
        assert total >= at_least, (total, dict(tally))
