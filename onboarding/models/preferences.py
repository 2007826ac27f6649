from zoneinfo import available_timezones

from django.conf import settings
from django.db import models


def time_zone_choices() -> list[tuple[str, str]]:
    return [("", "My browser's time zone")] + [(name, name) for name in sorted(available_timezones())]


class UserSettings(models.Model):
    """What a person chose for themselves. Empty time zone: the browser's, as it reports it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="etter_settings"
    )
    time_zone = models.CharField(max_length=64, blank=True, choices=time_zone_choices)

    class Meta:
        verbose_name = "user settings"
        verbose_name_plural = "user settings"

    def __str__(self) -> str:
        return f"Settings of {self.user}"
