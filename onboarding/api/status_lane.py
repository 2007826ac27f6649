"""GET status's short way past DRF, for the poll that is nearly every request it gets.

A poller asks for the same run again and again with a token this process already checked. For
that request the middleware stack (sessions, CSRF, messages, the viewer's time zone, URL
resolution) and DRF's machinery (wrapping the request, negotiating, authenticating, checking
permissions, rendering) cost more than the answer. This lane, a middleware right after the
security middleware and the request guard, answers it when, and only when, every check DRF
would make is already settled:

- the token is one this process validated less than API_AUTH_CACHE_SECONDS ago (the same cache
  CachedTokenAuthentication keeps: same user, same expiry);
- the client takes JSON (no Accept header, */* or application/json): DRF would pick JSON;
- the view's throttles allow the request (they count it, as DRF would);
- the run exists and is of the user's companies (the same one scoped query).

Anything else (no token, an unknown one, a browser asking for HTML, a refusal, a 404) goes the
whole way through the stack and DRF, so every error keeps its documented shape. The answer, its
status code and every header are the ones the whole way gives (tests/test_status_lane.py
compares them).
"""

from __future__ import annotations

import functools
import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from onboarding.api.auth import remembered_token_user
from onboarding.errors import NotFound
from onboarding.polling import StatusAnswer, status_answer

JSON_ACCEPTS = {"", "*/*", "application/json"}


class StatusLaneMiddleware:
    """Takes GET status off the middleware stack early: placed right after the request guard
    (etter_site/middleware.py: NUL bytes, sizes) and Django's SecurityMiddleware, which still
    see every request and answer. Whatever the lane does not answer goes on as before."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "GET":
            path, view = _status_route()
            match = path.fullmatch(request.path_info)
            if match:
                response = quick_status(view, request, match["workflow_id"])
                if response is not None:
                    return response
        return self.get_response(request)


@functools.cache
def _status_route() -> tuple[re.Pattern, APIView]:
    """The status URL (as the URL conf spells it) and a view instance to ask for its throttles
    and DRF's response headers."""
    from django.urls import resolve, reverse

    example = reverse("pipeline-status", args=["x"])
    view = resolve(example).func.view_class()  # type: ignore[attr-defined]
    view.head = view.get  # as View.setup does: DRF's Allow header names HEAD
    return re.compile(re.escape(example[:-1]) + r"(?P<workflow_id>[^/]+)"), view


def quick_status(view: APIView, request: HttpRequest, workflow_id: str) -> HttpResponse | None:
    """The answer DRF would give, or None when only DRF can tell (see the module's docstring)."""
    if request.headers.get("Accept", "").strip() not in JSON_ACCEPTS:
        return None
    user = remembered_token_user(request.headers.get("Authorization"))
    if user is None or not user.is_active:
        return None
    request.user = user  # what DRF would set: the throttles read it
    # The throttles read only request.user (set above), which a DRF Request would hand on.
    throttles = view.get_throttles()
    if not all(t.allow_request(request, view) for t in throttles):  # type: ignore[arg-type]
        return None  # DRF counts it again and answers 429 with Retry-After
    try:
        answer = status_answer(user, workflow_id)
    except NotFound:
        return None
    response = conditional_response(answer, request.headers.get("If-None-Match"))
    # What the middleware this lane skips would have added, as they would (tests compare).
    for header, value in view.default_response_headers.items():  # DRF: Allow, Vary: Accept
        response[header] = value
    patch_vary_headers(response, ("Cookie",))  # the session middleware (the viewer's time zone read it)
    response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
    if not response.streaming:
        response.headers.setdefault("Content-Length", str(len(response.content)))
    return response


def conditional_response(answer: StatusAnswer, if_none_match: str | None) -> HttpResponse:
    """The answer as compact JSON, or 304 when the client holds it already; with its ETag."""
    response: HttpResponse
    if answer.not_modified(if_none_match):
        response = HttpResponseNotModified()
    else:
        content = answer.content if answer.content is not None else JSONRenderer().render(answer.body)
        response = HttpResponse(content, content_type="application/json")
    return with_validators(response, answer)


def with_validators(response: HttpResponse, answer: StatusAnswer) -> HttpResponse:
    """The answer's ETag, and the caching every polled answer carries."""
    if answer.etag:
        response["ETag"] = answer.etag
    response["Cache-Control"] = "private, no-cache"  # a browser keeps it, and asks again each time
    return response
