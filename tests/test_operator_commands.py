"""Operators' commands: pipeline_status prints where the work stands; retry_failed reads
--since as a date, a date and time or a duration and lists what a dry run would retry; every
command explains itself in --help and ends a bad input with a message, never a traceback."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command, get_commands
from django.utils import timezone

from batches.services import batch_push
from onboarding.models import Role, RoleState, Run, RunStatus
from tests.factories import CompanyFactory, force_state, ready_role

ROOT = Path(__file__).resolve().parent.parent
OURS = [
    "import_roles",
    "retry_failed",
    "pipeline_status",
    "load_demo",
    "reap_stuck",
    "simulator_calls",
    "ensure_admin",
]


def run_command(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def failed(company, name, code="SERVER_ERROR", message="draup-world kept failing", ended=None):
    role = ready_role(company=company, name=name)
    run = Run.objects.create(
        role=role,
        status=RunStatus.FAILED,
        error={"error": code, "message": message},
        finished_at=ended or timezone.now(),
    )
    Role.objects.filter(pk=role.pk).update(last_run=run)
    return force_state(role, RoleState.FAILED)


@pytest.fixture
def work(db):
    acme, globex = CompanyFactory(name="Acme"), CompanyFactory(name="Globex")
    failed(acme, "Analyst", "VALIDATION_ERROR", "The JD is empty")
    failed(acme, "Clerk")
    failed(globex, "Writer", ended=timezone.now() - timedelta(days=3))
    queued = ready_role(company=acme, name="Designer")
    batch = batch_push(role_ids=[queued.pk])
    return acme, globex, batch


def test_pipeline_status_prints_counts_in_flight_failures_and_eta(work):
    text = run_command("pipeline_status", "--company", "Acme")
    assert "Pipeline status: Acme" in text
    assert "Roles: 3 total · 0 ready · 1 in flight · 2 need you" in text
    assert "Runs in flight: 1 (1 queued, 0 processing, 0 waiting for a retry)" in text
    assert "Missing or unreadable input [VALIDATION_ERROR, needs_you]" in text
    assert "draup-world kept failing [SERVER_ERROR, needs_you]" in text
    assert "ETA: about 5 min" in text  # 2 runs ended in the last 10 minutes, 1 is in flight


def test_pipeline_status_as_json_for_all_and_for_a_batch(work):
    everything = json.loads(run_command("pipeline_status", "--json"))
    assert everything["scope"] == "all companies"
    assert everything["roles"]["total"] == 4 and everything["runs"]["queued"] == 1
    assert {f["code"]: f["count"] for f in everything["failures"]} == {
        "SERVER_ERROR": 2,
        "VALIDATION_ERROR": 1,
    }
    _, _, batch = work
    one = json.loads(run_command("pipeline_status", "--batch", batch.batch_id, "--json"))
    assert one["roles"]["total"] == 1 and one["runs"]["in_flight"] == 1 and one["failures"] == []


@pytest.mark.parametrize(
    ("args", "message"), [(["--company", "Nobody"], "No company"), (["--batch", "b-1"], "No batch")]
)
def test_pipeline_status_refuses_what_does_not_exist(db, args, message):
    with pytest.raises(CommandError, match=message):
        run_command("pipeline_status", *args)


@pytest.mark.parametrize(("since", "retried"), [("2h", 2), ("1d", 2), ("1w", 3), ("2999-01-01", 0)])
def test_retry_failed_since_takes_a_duration_or_a_date(work, since, retried):
    assert f"Would retry {retried} roles" in run_command("retry_failed", "--since", since, "--dry-run")


def test_retry_failed_since_takes_a_date_and_time(work):
    moment = (timezone.localtime() - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert "Would retry 2 roles" in run_command("retry_failed", "--since", moment, "--dry-run")


def test_a_dry_run_lists_the_roles_it_would_retry_and_changes_nothing(work):
    text = run_command("retry_failed", "--company", "Acme", "--dry-run")
    assert "  Acme / Analyst (Failed): The JD is empty" in text
    assert "  Acme / Clerk (Failed): draup-world kept failing" in text
    assert Role.objects.filter(state=RoleState.FAILED).count() == 3


def manage(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "etter_site.test_settings"}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("value", ["yesterday", "2h30", "1 day", "31/01/2026"])
def test_a_bad_since_ends_with_a_message_not_a_traceback(value):
    done = manage("retry_failed", "--since", value, "--dry-run")
    assert done.returncode != 0
    assert "is not a date (2026-01-31), a date and time" in done.stderr
    assert "Traceback" not in done.stderr


def test_every_command_of_ours_says_what_it_does():
    commands = get_commands()
    for name in OURS:
        assert commands[name] in ("onboarding", "batches"), name
        done = manage(name, "--help")
        assert done.returncode == 0, done.stderr
        description = done.stdout.split("\n\n")[1]
        assert len(description.split()) >= 6, (name, description)
