"""Every time on a page shows in the viewer's time zone: the one they chose (UserSettings), else
their browser's (a cookie that static/etter/timezone.js sets), else the site's TIME_ZONE."""

from __future__ import annotations

import zoneinfo

from django.utils import timezone

COOKIE = "etter_tz"
SESSION_KEY = "etter_time_zone"  # the user's choice, read once per session (pages are polled)


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
        chosen = session.get(SESSION_KEY)
        if chosen is None:
            from onboarding.models import UserSettings

            chosen = UserSettings.objects.filter(user=user).values_list("time_zone", flat=True).first() or ""
            session[SESSION_KEY] = chosen
        if zone := _zone(chosen):
            return zone
    return _zone(request.COOKIES.get(COOKIE, ""))


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
