"""The bulk writers a big push goes through (onboarding/bulk.py), on both databases: what they
store is what Django's own bulk_create would have stored, ids included, and a row the database
refuses is Django's IntegrityError, with nothing of the call written."""

import pytest
from django.db import IntegrityError, transaction
from django_fsm_log.models import StateLog

from onboarding.bulk import bulk_update_fields, create_objects, insert_columns, insert_rows
from onboarding.models import Role, RoleDocument, Run, RunStep
from tests.factories import CompanyFactory

pytestmark = pytest.mark.django_db


def test_created_objects_get_their_stored_ids_in_order_and_their_times():
    company = CompanyFactory()
    before = Role.objects.create(company=company, name="Before")
    roles = [Role(company=company, name=f"Role {i}", draup_role_name="Analyst") for i in range(30)]
    create_objects(roles)

    ids = [r.pk for r in roles]
    assert ids == sorted(ids) and ids[0] > before.pk  # ascending, after the rows already there
    assert all(not r._state.adding for r in roles)
    stored = Role.objects.in_bulk(ids)
    assert {stored[r.pk].name for r in roles} == {f"Role {i}" for i in range(30)}
    assert all(stored[r.pk].name == r.name for r in roles)  # each object holds its own row's id
    assert all(r.created_at is not None and stored[r.pk].created_at == r.created_at for r in roles)
    after = Role.objects.create(company=company, name="After")
    assert after.pk > ids[-1]  # the table's own sequence moved past them


def test_json_values_are_stored_as_given_however_many_rows_share_them():
    company = CompanyFactory()
    options = ({}, {}, {"priority": "urgent"}, {"a": [1, True]})
    roles = [Role.objects.create(company=company, name=f"Role {i}") for i in range(len(options))]
    runs = [Run(role=role, options=o) for role, o in zip(roles, options, strict=True)]  # one in flight a role
    create_objects(runs)
    assert [Run.objects.get(pk=r.pk).options for r in runs] == [
        {},
        {},
        {"priority": "urgent"},
        {"a": [1, True]},
    ]

    # 1 and True are equal in Python but not in JSON: one must not be written as the other.
    insert_columns(
        RunStep,
        {
            "run": [runs[0].pk] * 6,
            "name": ["a", "b", "c", "d", "e", "f"],
            "position": [0, 1, 2, 3, 4, 5],
            "output": [{}, {"n": 1}, {"n": True}, {"nested": {"list": [None, "x"]}}, 1, True],
        },
    )
    outputs = dict(RunStep.objects.filter(run=runs[0]).values_list("name", "output"))
    assert outputs == {
        "a": {},
        "b": {"n": 1},
        "c": {"n": True},
        "d": {"nested": {"list": [None, "x"]}},
        "e": 1,
        "f": True,
    }
    assert outputs["c"]["n"] is True and outputs["b"]["n"] is not True
    assert outputs["f"] is True and outputs["e"] is not True


def test_rows_given_by_name_or_attname_take_defaults_for_the_rest():
    role = Role.objects.create(company=CompanyFactory(), name="Analyst")
    run = Run.objects.create(role=role)
    insert_rows(
        RunStep, [{"run_id": run.pk, "name": "x", "position": 1}, {"run": run.pk, "name": "y", "position": 2}]
    )
    steps = list(RunStep.objects.filter(run=run).order_by("position"))
    assert [(s.name, s.status, s.output, s.attempts) for s in steps] == [
        ("x", "pending", {}, 0),
        ("y", "pending", {}, 0),
    ]


def test_a_refused_row_is_an_integrity_error_and_writes_nothing_of_the_call():
    company = CompanyFactory()
    Role.objects.create(company=company, name="Taken")
    roles = [Role(company=company, name="Free"), Role(company=company, name="Taken")]
    with pytest.raises(IntegrityError), transaction.atomic():
        create_objects(roles)
    assert list(Role.objects.filter(company=company).values_list("name", flat=True)) == ["Taken"]


def test_columns_of_different_lengths_or_unknown_fields_are_refused_before_writing():
    run = Run.objects.create(role=Role.objects.create(company=CompanyFactory(), name="Analyst"))
    with pytest.raises(ValueError, match="different lengths"):
        insert_columns(RunStep, {"run": [run.pk, run.pk], "name": ["a"]})
    with pytest.raises(ValueError, match="no fields"):
        insert_columns(RunStep, {"run": [run.pk], "colour": ["red"]})
    with pytest.raises(ValueError, match="no fields"):
        insert_rows(RunStep, [{"run": run.pk, "colour": "red"}])
    assert not RunStep.objects.filter(run=run).exists()


def test_documents_created_in_bulk_keep_their_derived_fields():
    role = Role.objects.create(company=CompanyFactory(), name="Analyst")
    doc = RoleDocument(role=role, content="# Analyst\r\nAnalyses.")
    doc.fill_derived()
    create_objects([doc])
    stored = RoleDocument.objects.get(pk=doc.pk)
    assert (stored.format, stored.name, stored.content_hash) == (doc.format, doc.name, doc.content_hash)
    assert stored.content_hash  # CRLF or not, the hash of the text


def test_a_bulk_push_logs_each_transition_with_its_own_time_and_user(django_user_model):
    from onboarding.fsm_log import collected_state_logs

    user = django_user_model.objects.create(username="csm")
    role = Role.objects.create(company=CompanyFactory(), name="Analyst")
    with transaction.atomic(), collected_state_logs():
        role.apply("reject", by=user, reason="No JD")
        role.apply("reopen", by=user, reason="Inputs fixed")
    logs = list(StateLog.objects.for_(role).order_by("timestamp", "pk"))
    assert [(log.source_state, log.state, log.by_id, log.description) for log in logs] == [
        ("DRAFT", "VALIDATION_ERROR", user.pk, "No JD"),
        ("VALIDATION_ERROR", "DRAFT", user.pk, "Inputs fixed"),
    ]
    assert logs[0].timestamp < logs[1].timestamp


def test_fields_written_in_bulk_reach_each_row_and_only_those_fields():
    company = CompanyFactory()
    roles = [Role.objects.create(company=company, name=f"Role {i}", occupation="Old") for i in range(3)]
    run = Run.objects.create(role=roles[0])
    for i, role in enumerate(roles):
        role.state_reason = f"Reason {i}"  # text, one a row
        role.last_run_id = run.pk if i == 0 else None  # an id and NULLs
        role.occupation = "New"  # changed, but not written: not named
    assert bulk_update_fields([*roles, roles[0]], ["state_reason", "last_run"]) == 3
    stored = Role.objects.in_bulk([r.pk for r in roles])
    assert [
        (stored[r.pk].state_reason, stored[r.pk].last_run_id, stored[r.pk].occupation) for r in roles
    ] == [
        ("Reason 0", run.pk, "Old"),
        ("Reason 1", None, "Old"),
        ("Reason 2", None, "Old"),
    ]


def test_times_equal_in_python_but_an_hour_apart_are_stored_apart():
    """01:30 on the night clocks go back happens twice (fold 0 and 1): Python calls the two
    equal, the database must not get one for both."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    run = Run.objects.create(role=Role.objects.create(company=CompanyFactory(), name="Analyst"))
    first = datetime(2026, 11, 1, 1, 30, tzinfo=ZoneInfo("America/New_York"))
    second = first.replace(fold=1)
    assert first == second  # what a cache keyed on the value alone would merge
    insert_rows(
        RunStep,
        [
            {"run": run.pk, "name": "a", "position": 0, "started_at": first},
            {"run": run.pk, "name": "b", "position": 1, "started_at": second},
        ],
    )
    stored = dict(RunStep.objects.filter(run=run).values_list("name", "started_at"))
    assert (stored["b"] - stored["a"]).total_seconds() == 3600
