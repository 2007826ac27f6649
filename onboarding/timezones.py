"""Every time on a page shows in the viewer's time zone: the one they chose (UserSettings), else
their browser's (a cookie that static/etter/timezone.js sets), else the site's TIME_ZONE."""

from __future__ import annotations

import zoneinfo

from django.utils import timezone

COOKIE = "etter_tz"
SESSION_KEY = "etter_time_zone"  # the user's choice, read at login: pages are polled, cheaply


def _zone(name: str) -> zoneinfo.ZoneInfo | None:
    if not name or len(name) > 64:
        return None
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None


def viewer_zone(request) -> zoneinfo.ZoneInfo | None:
    user = getattr(request, "user", None)
    session = getattr(request, "session", None)
    if user is not None and user.is_authenticated and session is not None:
        if zone := _zone(session.get(SESSION_KEY, "")):
            return zone
    return _zone(request.COOKIES.get(COOKIE, ""))


def remember_on_login(sender, request, user, **kwargs) -> None:
    """At login, the user's chosen zone goes into their session: no query per request after."""
    from onboarding.models import UserSettings

    if request is not None and hasattr(request, "session"):
        chosen = UserSettings.objects.filter(user=user).values_list("time_zone", flat=True).first()
        request.session[SESSION_KEY] = chosen or ""


def remember_choice(request, time_zone: str) -> None:
    request.session[SESSION_KEY] = time_zone


class ViewerTimeZoneMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        zone = viewer_zone(request)
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
