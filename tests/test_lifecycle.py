"""The role lifecycle of PRODUCT.md, both ways: every allowed transition works and is logged,
every other one is refused with the current and asked-for state, and nothing changes."""

import pytest
from django_fsm_log.models import StateLog

from onboarding.errors import InvalidTransition
from onboarding.models import Role, RoleState
from onboarding.models.role import allowed_transitions
from tests.factories import RoleFactory, UserFactory, force_state

S = RoleState
# PRODUCT.md "The role lifecycle", plus cancel (QUEUED/PROCESSING -> FAILED, "cancelled").
TABLE = {
    (S.DRAFT, "enqueue"): S.QUEUED,
    (S.DRAFT, "reject"): S.VALIDATION_ERROR,
    (S.QUEUED, "start"): S.PROCESSING,
    (S.PROCESSING, "finish_ready"): S.READY,
    (S.PROCESSING, "finish_degraded"): S.DEGRADED,
    (S.PROCESSING, "fail"): S.FAILED,
    (S.FAILED, "enqueue"): S.QUEUED,
    (S.DEGRADED, "enqueue"): S.QUEUED,
    (S.READY, "mark_stale"): S.STALE,
    (S.READY, "enhance"): S.QUEUED,  # issue 11: "Run enhancements" for a role pushed without them
    (S.STALE, "enqueue"): S.QUEUED,
    (S.VALIDATION_ERROR, "reopen"): S.DRAFT,
    (S.QUEUED, "cancel"): S.FAILED,
    (S.PROCESSING, "cancel"): S.FAILED,
}
TRANSITIONS = sorted({name for _, name in TABLE})
REFUSED = [(state, name) for state in S for name in TRANSITIONS if (state, name) not in TABLE]


def test_the_table_is_the_documented_one():
    expected = {
        "DRAFT": ["QUEUED", "VALIDATION_ERROR"],
        "QUEUED": ["FAILED", "PROCESSING"],
        "PROCESSING": ["DEGRADED", "FAILED", "READY"],
        "FAILED": ["QUEUED"],
        "DEGRADED": ["QUEUED"],
        "READY": ["QUEUED", "STALE"],
        "STALE": ["QUEUED"],
        "VALIDATION_ERROR": ["DRAFT"],
    }
    assert allowed_transitions() == expected


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "name"), list(TABLE))
def test_it_allows_the_documented_transition_and_logs_who_and_why(source, name):
    user = UserFactory()
    role = force_state(RoleFactory(), source)
    role.apply(name, by=user, reason="because the test says so")
    role.save()
    role.refresh_from_db()
    assert role.state == TABLE[(source, name)]
    log = StateLog.objects.for_(role).get()
    assert (log.source_state, log.state, log.transition) == (source, TABLE[(source, name)], name)
    assert log.by == user
    assert log.description == "because the test says so"


@pytest.mark.django_db
def test_a_system_transition_is_logged_without_a_user():
    role = force_state(RoleFactory(), S.QUEUED)
    role.apply("start")
    role.save()
    log = StateLog.objects.for_(role).get()
    assert log.by is None and log.transition == "start"


@pytest.mark.django_db
@pytest.mark.parametrize(("source", "name"), REFUSED)
def test_it_refuses_every_other_transition_with_current_and_target(source, name):
    role = force_state(RoleFactory(), source)
    with pytest.raises(InvalidTransition) as refused:
        role.apply(name, reason="should not happen")
    error = refused.value.as_dict()
    assert error["error"] == "INVALID_TRANSITION"
    assert error["current_state"] == source
    assert error["target_state"] in {s.value for s in S}
    assert Role.objects.get(pk=role.pk).state == source
    assert not StateLog.objects.for_(role).exists()


@pytest.mark.django_db
def test_the_state_cannot_be_assigned_directly():
    role = RoleFactory()
    with pytest.raises(AttributeError):
        role.state = S.READY
