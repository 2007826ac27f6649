"""The inbox count in the status pages' header: one small indexed count per page."""

from django.urls import reverse
from django.utils.functional import SimpleLazyObject


def inbox(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not request.path.startswith("/status/"):
        return {}

    def read() -> dict:
        unread = user.inbox_items.filter(read_at__isnull=True).count()
        return {"url": reverse("operations-inbox"), "unread": unread}

    # Counted only when a template shows it: the pages' polled partials do not.
    return {"inbox": SimpleLazyObject(read)}
