"""The role page's live partial under many pollers: its validator (ETag) from one indexed query,
so that an unchanged role answers 304 without reading anything else (the session and the user
come from etter_site/sessions.py and etter_site/auth.py, the queue place from polling.py)."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from onboarding.polling import digest, place_in_queue
from onboarding.prepared import prepared_cursor
from onboarding.selectors import sees_every_company


@dataclass(frozen=True)
class RoleHead:
    """What the live partial shows changes one of these: the role's own row (its state, reason,
    step; updated_at moves with any other change saved on it) and its last run's version (bumped
    by every write to the run, its steps or attempts)."""

    pk: int
    company_id: int
    state: str
    state_reason: str
    processing_step: str
    updated_at: object  # a datetime on PostgreSQL, its text on SQLite: either serves a digest
    last_run_id: int | None
    run_version: int | None
    run_status: str | None


# Written out once, like selectors.status_head: building the query with the ORM cost more than
# running it. It says what `Role.objects.visible_to` says (the tests hold both to one answer).
_ROLE_HEAD_SQL = """
SELECT ro.id, ro.company_id, ro.state, ro.state_reason, ro.processing_step, ro.updated_at,
       ro.last_run_id, r.version, r.status
FROM onboarding_role ro
LEFT JOIN onboarding_run r ON r.id = ro.last_run_id
WHERE ro.id = %s"""
_ROLE_SCOPE_SQL = (
    " AND EXISTS (SELECT 1 FROM onboarding_company_csms m"
    " WHERE m.company_id = ro.company_id AND m.user_id = %s)"
)


def role_head(user, pk: int) -> RoleHead | None:
    """The role's head if the user may see its company, else None: one query."""
    sql, params = _ROLE_HEAD_SQL, [pk]
    if not sees_every_company(user):  # a CSM: only the companies assigned to them
        sql, params = sql + _ROLE_SCOPE_SQL, [pk, user.pk]
    with prepared_cursor() as cursor:  # planned once per connection (onboarding/prepared.py)
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return RoleHead(*row) if row else None


def role_live_etag(user, head: RoleHead) -> str:
    """Everything the role's live partial shows, for this viewer: the role, its run, its place in
    the queue, whether they may act on it, and the time zone its times are shown in."""
    run_id, status = head.last_run_id, head.run_status
    place = place_in_queue(run_id, status, head.company_id) if run_id and status else None
    return digest(
        (
            user.pk,
            user.has_perm("onboarding.push_role"),
            timezone.get_current_timezone_name(),
            head.pk,
            head.state,
            head.state_reason,
            head.processing_step,
            head.updated_at,
            head.last_run_id,
            head.run_version,
            head.run_status,
            place,
        )
    )
