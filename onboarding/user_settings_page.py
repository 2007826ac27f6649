"""A person's own settings: for now, the time zone their pages show times in."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone

from onboarding.http import AuthenticatedHttpRequest
from onboarding.models import UserSettings
from onboarding.timezones import remember_choice


class UserSettingsForm(forms.ModelForm):
    class Meta:
        model = UserSettings
        fields = ["time_zone"]
        help_texts = {"time_zone": "Every time on these pages and in the admin shows in this zone."}


@login_required
def user_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    current, _ = UserSettings.objects.get_or_create(user=request.user)
    form = UserSettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        form.save()
        remember_choice(request, form.instance.time_zone)
        zone = form.instance.time_zone or "your browser's time zone"
        messages.success(request, f"Times now show in {zone}.")
        return redirect("status-settings")
    return render(request, "status/settings.html", {"form": form, "now": timezone.now()})
