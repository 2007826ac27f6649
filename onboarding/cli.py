"""What operators type at manage.py commands, read one way everywhere. Parsers raise
argparse.ArgumentTypeError, so a bad value ends the command with its usage and a message,
never a traceback."""

from __future__ import annotations

import argparse
import re
from datetime import datetime, time, timedelta

from django.utils import timezone

_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SINCE_HELP = (
    "only runs that ended since then: a date (2026-01-31), a date and time (2026-01-31T14:00, "
    "in the site's time zone unless it names one) or a duration back from now (30m, 2h, 1d, 1w)"
)


def since(value: str) -> datetime:
    """A moment in the past: a date (its start), an ISO date and time, or a duration ago."""
    text = value.strip().lower()
    match = _DURATION.match(text)
    if match:
        return timezone.now() - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a date (2026-01-31), a date and time (2026-01-31T14:00) "
            "or a duration (30m, 2h, 1d, 1w)"
        ) from None
    if "t" not in text and " " not in text.strip():
        moment = datetime.combine(moment.date(), time.min)
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment)
