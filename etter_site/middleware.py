"""Refusals that happen before any view runs, in one place for the whole site.

- A NUL character in the address (path or query) or in a header is refused with 400, on every
  page: no identifier, parameter or token of ours can hold one, and PostgreSQL refuses it in
  any query (a 500).
- Under /api/, a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413 before it is
  read (Django's own refusal comes later, as an HTML page).
- Under /api/, an error answered by Django rather than by the API's views (an address that
  matches no call, a crash) is given the API's error shape, so a client parses every refusal
  the same way: {"detail": {"error", "message", "recoverable"}}. (With DEBUG on, a crash keeps
  Django's traceback page.)
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse

from onboarding.api.errors import error_response, too_large_message

API_PREFIX = "/api/"
NUL_MESSAGE = (
    "The address or a header holds a NUL character (%00), which no identifier, parameter or token "
    "may contain."
)
# What the API says when Django, not one of its views, answered with an error page.
DJANGO_ERRORS = {
    400: ("VALIDATION_ERROR", "The request could not be understood.", True),
    404: ("NOT_FOUND", "No API call at this address; the calls are listed at /api/docs/.", False),
    405: ("METHOD_NOT_ALLOWED", "This call does not take that method.", False),
    500: ("INTERNAL_ERROR", "Something went wrong on our side; it is logged. Try again later.", True),
}


class RequestGuardMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        is_api = request.path_info.startswith(API_PREFIX)
        if _has_nul(request):
            if is_api:
                return error_response(400, "VALIDATION_ERROR", NUL_MESSAGE, recoverable=True)
            raise BadRequest(NUL_MESSAGE)  # Django's 400 page
        if is_api and _too_large(request):
            return error_response(413, "PAYLOAD_TOO_LARGE", too_large_message(), recoverable=False)
        response = self.get_response(request)
        if is_api and response.status_code >= 400 and not _is_json(response) and not _debug_page(response):
            return _in_api_shape(response)
        return response


def _has_nul(request: HttpRequest) -> bool:
    if "\x00" in request.path_info:
        return True
    query = request.META.get("QUERY_STRING", "")  # raw: "%" itself is sent as %25
    if "%00" in query or "\x00" in query:
        return True
    # An HTTP server should refuse a NUL in a header; the development server lets it through.
    return any("\x00" in value for key, value in request.META.items() if key.startswith("HTTP_"))


def _too_large(request: HttpRequest) -> bool:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False  # Django reads no body then
    return limit is not None and length > limit


def _debug_page(response: HttpResponse) -> bool:
    """With DEBUG on, a crash keeps Django's page with the traceback: it is for the developer."""
    return settings.DEBUG and response.status_code >= 500


def _is_json(response: HttpResponse) -> bool:
    return "json" in response.get("Content-Type", "")


def _in_api_shape(response: HttpResponse) -> HttpResponse:
    code, message, recoverable = DJANGO_ERRORS.get(
        response.status_code,
        ("INTERNAL_ERROR", "Something went wrong on our side.", True)
        if response.status_code >= 500
        else ("VALIDATION_ERROR", "The request was refused.", True),
    )
    shaped = error_response(response.status_code, code, message, recoverable=recoverable)
    for header in ("Allow", "Retry-After"):
        if header in response:
            shaped[header] = response[header]
    return shaped
