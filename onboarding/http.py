"""Request types for the type checker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """The request of a @login_required view: its user is signed in, never AnonymousUser.
    Annotate such a view's `request` with it instead of HttpRequest."""

    user: User
