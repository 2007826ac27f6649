"""Plain words for states and errors, and who has to act: the CSM ("needs you"), the system
(it is retrying), or an engineer. The status pages, the CSV report and the API share them."""

from __future__ import annotations

from dataclasses import dataclass

STATE_COLOURS = {
    "DRAFT": "#6b7280",
    "QUEUED": "#2563eb",
    "PROCESSING": "#7c3aed",
    "READY": "#15803d",
    "DEGRADED": "#b45309",
    "FAILED": "#b91c1c",
    "VALIDATION_ERROR": "#c2410c",
    "STALE": "#a16207",
}

STATE_TEXT = {
    "DRAFT": "Not pushed yet. Push it to Etter when its job description and Draup mapping are in place.",
    "QUEUED": "Waiting for a worker. It starts as soon as one is free and its company has a free slot.",
    "PROCESSING": "Being onboarded on draup-world right now.",
    "READY": "Done: the assessment is stored and the role is on the Etter dashboard.",
    "DEGRADED": "On the dashboard, but an optional step failed. Retry to complete it.",
    "FAILED": "The push failed. The reason below says what to do; then retry.",
    "VALIDATION_ERROR": "The role cannot be pushed yet: fix what the reason says, then push again.",
    "STALE": "Its job description or mapping changed after the assessment: push again to refresh it.",
}

NEEDS_YOU, RETRYING, ENGINEER = "needs_you", "retrying", "engineer"


@dataclass(frozen=True)
class Fix:
    who: str  # NEEDS_YOU, RETRYING or ENGINEER
    title: str
    action: str


_FIXES = {
    "VALIDATION_ERROR": Fix(
        NEEDS_YOU, "Missing or unreadable input", "Fix the job description or the mapping, then push again."
    ),
    "NO_JOB_DESCRIPTION": Fix(
        NEEDS_YOU, "No job description", "Upload a job description on the role page, then retry."
    ),
    "INVALID_REQUEST": Fix(
        NEEDS_YOU,
        "draup-world refused the role's data",
        "Check the role name, mapping and JD against the message, then retry.",
    ),
    "NOT_FOUND": Fix(
        NEEDS_YOU,
        "draup-world does not know this role",
        "Retry; if it fails again, push the role anew after marking it stale.",
    ),
    "CONFLICT": Fix(NEEDS_YOU, "draup-world has the role in another state", "Wait a few minutes and retry."),
    "CANCELLED": Fix(NEEDS_YOU, "Cancelled", "Retry when you want it onboarded."),
    "UNAUTHORIZED": Fix(
        ENGINEER,
        "draup-world rejected our credentials",
        "Ask an engineer to check DRAUP_WORLD_TOKEN; then retry.",
    ),
    "BAD_RESPONSE": Fix(
        ENGINEER,
        "draup-world answered with broken data",
        "Retry later; if it keeps failing, tell an engineer.",
    ),
    "INTERNAL_ERROR": Fix(
        ENGINEER,
        "An unexpected error in the pipeline",
        "Tell an engineer (the run id helps); retry after the fix.",
    ),
    "SERVER_ERROR": Fix(NEEDS_YOU, "draup-world kept failing", "It was retried several times. Retry later."),
    "TIMEOUT": Fix(
        NEEDS_YOU, "draup-world did not answer in time", "It was retried several times. Retry later."
    ),
    "CONNECTION_ERROR": Fix(
        NEEDS_YOU, "draup-world could not be reached", "It was retried several times. Retry later."
    ),
    "RATE_LIMITED": Fix(
        NEEDS_YOU, "draup-world was rate-limiting", "It was retried several times. Retry later."
    ),
    "OPTIONAL_STEPS_FAILED": Fix(
        NEEDS_YOU, "An optional step failed", "The assessment is there; retry to complete the rest."
    ),
}


def fix_for(error: dict | None) -> Fix:
    code = (error or {}).get("error") or ""
    return _FIXES.get(code, Fix(NEEDS_YOU, code.replace("_", " ").capitalize() or "Failed", "Retry."))
