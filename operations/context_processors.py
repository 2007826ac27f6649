"""The inbox count in the status pages' header: one small indexed count per page."""

from django.urls import reverse


def inbox(request) -> dict:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not request.path.startswith("/status/"):
        return {}
    unread = user.inbox_items.filter(read_at__isnull=True).count()
    return {"inbox": {"url": reverse("operations-inbox"), "unread": unread}}
