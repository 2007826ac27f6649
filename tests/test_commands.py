"""manage.py commands an operator uses: demo data, retries, the sweep, the simulator's log."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from onboarding.models import Company, Role, RoleDocument, RoleState, Run, SimulatorCall
from onboarding.models.run import RunStatus
from tests.factories import CompanyFactory, force_state, ready_role

ROOT = Path(__file__).resolve().parent.parent


def run_command(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_load_demo_loads_three_companies_and_eight_roles_and_twice_changes_nothing():
    assert "(8 new)" in run_command("load_demo")
    before = list(Role.objects.values_list("pk", "name", "updated_at"))
    assert "(0 new)" in run_command("load_demo")
    assert list(Role.objects.values_list("pk", "name", "updated_at")) == before
    assert sorted(Company.objects.values_list("name", flat=True)) == [
        "Acme Corporation",
        "Liberty Mutual",
        "Walmart Inc.",
    ]
    assert RoleDocument.objects.count() == 8
    claims = Role.objects.get(name="Claims Adjuster")
    assert claims.draup_role_name == "Insurance Claims Specialist"
    assert claims.documents.get().content.startswith("# Claims Adjuster\n\n## Overview")


def failed_role(company):
    role = ready_role(company=company)
    run = Run.objects.create(role=role, status=RunStatus.FAILED)
    Role.objects.filter(pk=role.pk).update(last_run=run)
    return force_state(role, RoleState.FAILED)


@pytest.mark.django_db
def test_retry_failed_dry_run_counts_and_changes_nothing():
    acme = CompanyFactory(name="Acme")
    failed_role(acme), failed_role(CompanyFactory())
    assert "Would retry 2 roles" in run_command("retry_failed", "--dry-run")
    assert Role.objects.filter(state=RoleState.FAILED).count() == 2
    assert "Retried 1 roles" in run_command("retry_failed", "--company", "Acme")
    assert Role.objects.filter(state=RoleState.FAILED).count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--company", "Nobody Inc."], "No company named"),
        (["--since", "yesterday"], "'yesterday' is not a date"),
    ],
)
def test_retry_failed_refuses_bad_arguments(args, message):
    with pytest.raises(CommandError, match=message):
        run_command("retry_failed", *args)


@pytest.mark.django_db
def test_retry_failed_since_filters_by_when_the_run_ended():
    failed_role(CompanyFactory())
    assert "Retried 0 roles" in run_command("retry_failed", "--since", "2999-01-01")


@pytest.mark.django_db
def test_reap_stuck_reports_what_it_found():
    assert "0 runs had lost their worker" in run_command("reap_stuck")


@pytest.mark.django_db
def test_simulator_calls_prints_json_and_clears():
    SimulatorCall.objects.create(
        endpoint="create_company_role",
        idempotency_key="k",
        status_code=200,
        response={"company_role_id": "cr"},
    )
    line = json.loads(run_command("simulator_calls", "--json").strip())
    assert line["endpoint"] == "create_company_role" and line["response"] == {"company_role_id": "cr"}
    assert "create_company_role" in run_command("simulator_calls")
    assert "Cleared 1" in run_command("simulator_calls", "--clear")
    assert not SimulatorCall.objects.exists()


@pytest.mark.django_db
def test_ensure_admin_creates_the_login_from_the_environment(monkeypatch):
    from django.contrib.auth import authenticate

    monkeypatch.setenv("ADMIN_USERNAME", "boss")
    monkeypatch.setenv("ADMIN_PASSWORD", "a-long-password")
    assert "boss / a-long-password" in run_command("ensure_admin")
    assert authenticate(username="boss", password="a-long-password").is_superuser


def test_a_production_start_without_a_secret_key_is_refused():
    env = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DEBUG")}
    env.update(DJANGO_SETTINGS_MODULE="etter_site.settings", DEBUG="0", SECRET_KEY="")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_a_production_start_with_a_secret_key_passes_the_checks():
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "etter_site.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
