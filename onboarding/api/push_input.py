"""From a validated push request to the intake's items and the run's options: shared by the
single push (onboarding) and push-batch (batches)."""

from __future__ import annotations

from django.conf import settings

from onboarding.errors import ValidationFailed
from onboarding.intake import DocumentItem, OnExisting, RoleItem


def role_item(data: dict) -> RoleItem:
    return RoleItem(
        company=data["company_id"],
        role_name=data["role_name"],
        documents=[
            DocumentItem(
                doc_type=d.get("type") or DocumentItem.doc_type,
                content=d.get("content") or "",
                uri=d.get("uri") or "",
                name=d.get("name") or "",
            )
            for d in data["documents"]
        ],
        draup_role_id=data["draup_role_id"],
        draup_role_name=data["draup_role_name"],
    )


def push_options(request, data: dict) -> dict:
    """The run's options; `use_mock` (a query parameter) only where the simulator is on."""
    options = dict(data.get("options") or {})
    if request.query_params.get("use_mock", "").lower() in ("1", "true", "yes"):
        if not settings.DRAUP_WORLD_SIMULATOR:
            raise ValidationFailed("use_mock needs the built-in simulator, which is off on this site.")
        options["use_mock"] = True
    return options


def on_existing(options: dict) -> str:
    """What to do with a role that exists: the option, or "reassess" for force_rerun and
    from_scratch."""
    if options.get("force_rerun") or options.get("from_scratch"):
        return OnExisting.REASSESS
    return options.get("on_existing") or OnExisting.UPDATE
