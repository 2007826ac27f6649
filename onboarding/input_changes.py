"""What changed since a role's last assessment, for people to read: the JD text diff, the
Draup mapping before and after, and who marked the role stale and when. The status page and
the admin role page show the same summary (templates/status/role_changes.html)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from django_fsm_log.models import StateLog

from onboarding.models import Role
from onboarding.models.inputs import current_job_descriptions, jd_copy

MAX_DIFF_LINES = 400


@dataclass
class InputChanges:
    assessed_at: str
    workflow_id: str
    jd_changed: bool
    jd_before: str
    jd_after: str
    mapping_changed: bool
    mapping_before: str
    mapping_after: str
    diff: list[tuple[str, str]] = field(default_factory=list)  # (add | del | same | hunk, line)
    diff_hidden: int = 0
    stale_log: StateLog | None = None

    @property
    def anything(self) -> bool:
        return self.jd_changed or self.mapping_changed


def changes_since_assessment(role: Role) -> InputChanges | None:
    """None when the role has no recorded assessment to compare with."""
    assessed = role.assessed_inputs
    if not assessed:
        return None
    before, now = assessed.get("jd"), jd_copy(current_job_descriptions([role])[role.pk])
    mapping_before = _mapping(assessed.get("draup_role_id"), assessed.get("draup_role_name"))
    mapping_after = _shown_mapping(role.draup_role_id.strip(), role.draup_role_name.strip())
    changes = InputChanges(
        assessed_at=assessed.get("recorded_at", ""),
        workflow_id=assessed.get("workflow_id", ""),
        jd_changed=(before or {}).get("digest") != (now or {}).get("digest"),
        jd_before=_describe(before),
        jd_after=_describe(now) if _document_id(before) != _document_id(now) else "the same document, edited",
        mapping_changed=mapping_before is not None and mapping_before != mapping_after,
        mapping_before=mapping_before or "not recorded",
        mapping_after=mapping_after,
        stale_log=_last_marked_stale(role),
    )
    if (
        changes.jd_changed
        and before
        and now
        and before.get("text") is not None
        and now.get("text") is not None
    ):
        changes.diff, changes.diff_hidden = _diff(before["text"], now["text"])
    return changes


def _mapping(draup_role_id: str | None, draup_role_name: str | None) -> str | None:
    if draup_role_id is None and draup_role_name is None:
        return None  # recorded by the migration for a role already stale: unknown
    return _shown_mapping(draup_role_id, draup_role_name)


def _shown_mapping(draup_role_id: str | None, draup_role_name: str | None) -> str:
    return " / ".join(v for v in (draup_role_name, draup_role_id) if v) or "not mapped"


def _document_id(jd: dict[str, Any] | None) -> int | None:
    return (jd or {}).get("document_id")


def _describe(jd: dict[str, Any] | None) -> str:
    if jd is None:
        return "none"
    if jd.get("text") is not None:
        source = "inline text"
    elif jd.get("uri"):
        source = f"URI {jd['uri']}"
    else:
        source = "uploaded file"
    return f"{jd.get('name') or 'unnamed'} ({source}, document #{jd.get('document_id')})"


def _diff(before: str, after: str) -> tuple[list[tuple[str, str]], int]:
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=2))
    kinds = {"+": "add", "-": "del", " ": "same", "@": "hunk"}
    shown = [(kinds.get(line[:1], "same"), line) for line in lines[2:]]  # past the ---/+++ header
    return shown[:MAX_DIFF_LINES], max(0, len(shown) - MAX_DIFF_LINES)


def _last_marked_stale(role: Role) -> StateLog | None:
    return (
        StateLog.objects.for_(role)
        .filter(transition="mark_stale")
        .select_related("by")
        .order_by("-timestamp", "-id")
        .first()
    )
