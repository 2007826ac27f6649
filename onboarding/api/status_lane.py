"""GET status's short way past DRF, for the poll that is nearly every request it gets.

A poller asks for the same run again and again with a token this process already checked. For
that request DRF's machinery (wrapping the request, negotiating, authenticating, checking
permissions, rendering) cost as much as the answer. This lane answers it directly when, and
only when, every check DRF would make is already settled:

- the token is one this process validated less than API_AUTH_CACHE_SECONDS ago (the same cache
  CachedTokenAuthentication keeps: same user, same expiry);
- the client takes JSON (no Accept header, */* or application/json): DRF would pick JSON;
- the view's throttles allow the request (they count it, as DRF would);
- the run exists and is of the user's companies (the same one scoped query).

Anything else (no token, an unknown one, a browser asking for HTML, a refusal, a 404) goes the
whole way through DRF, so every error keeps its documented shape. The answer, its status code
and its headers are the ones DRF gives (tests/test_status_lane.py compares them).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from rest_framework.renderers import JSONRenderer

from onboarding.api.auth import remembered_token_user
from onboarding.errors import NotFound
from onboarding.polling import StatusAnswer, status_answer

JSON_ACCEPTS = {"", "*/*", "application/json"}


def quick_status(view, request: HttpRequest, workflow_id: str) -> HttpResponse | None:
    """The answer DRF would give, or None when only DRF can tell (see the module's docstring)."""
    if request.method != "GET" or request.headers.get("Accept", "").strip() not in JSON_ACCEPTS:
        return None
    user = remembered_token_user(request.headers.get("Authorization"))
    if user is None or not user.is_active:
        return None
    request.user = user  # what DRF would set: the throttles read it
    if not all(throttle.allow_request(request, view) for throttle in view.get_throttles()):
        return None  # DRF counts it again and answers 429 with Retry-After
    try:
        answer = status_answer(user, workflow_id)
    except NotFound:
        return None
    response = conditional_response(answer, request.headers.get("If-None-Match"))
    for header, value in view.default_response_headers.items():  # Allow, and Vary: Accept
        response[header] = value
    return response


def conditional_response(answer: StatusAnswer, if_none_match: str | None) -> HttpResponse:
    """The answer as compact JSON, or 304 when the client holds it already; with its ETag."""
    response: HttpResponse
    if answer.not_modified(if_none_match):
        response = HttpResponseNotModified()
    else:
        content = answer.content if answer.content is not None else JSONRenderer().render(answer.body)
        response = HttpResponse(content, content_type="application/json")
    if answer.etag:
        response["ETag"] = answer.etag
    response["Cache-Control"] = "private, no-cache"  # a browser keeps it, and asks again each time
    return response
