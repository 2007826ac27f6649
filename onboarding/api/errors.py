"""Every API error in the documented shape: {"detail": {"error", "message", "recoverable"}}."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_handler

from onboarding.errors import AppError

_CODES = {
    exceptions.NotAuthenticated: ("UNAUTHORIZED", "Log in or send 'Authorization: Token <key>'."),
    exceptions.AuthenticationFailed: ("UNAUTHORIZED", None),
    exceptions.PermissionDenied: ("FORBIDDEN", None),
    exceptions.NotFound: ("NOT_FOUND", None),
    exceptions.MethodNotAllowed: ("METHOD_NOT_ALLOWED", None),
    exceptions.ParseError: ("VALIDATION_ERROR", None),
    exceptions.UnsupportedMediaType: ("VALIDATION_ERROR", None),
    exceptions.Throttled: ("RATE_LIMITED", None),
}


def error_body(code: str, message: str, *, recoverable: bool = False) -> dict:
    return {"detail": {"error": code, "message": message, "recoverable": recoverable}}


def error_response(status_code: int, code: str, message: str, *, recoverable: bool = False) -> HttpResponse:
    """The shape, rendered as the views render it, where no DRF view answers (etter_site/middleware.py)."""
    body = JSONRenderer().render(error_body(code, message, recoverable=recoverable))
    return HttpResponse(body, status=status_code, content_type="application/json")


def too_large_message() -> str:
    return (
        f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes "
        "(DATA_UPLOAD_MAX_MEMORY_SIZE); send fewer roles per call."
    )


def handle(exc, context):
    if isinstance(exc, AppError):
        return Response({"detail": exc.as_dict()}, status=exc.status, headers=getattr(exc, "headers", None))
    if isinstance(exc, RequestDataTooBig):  # read from a body without a Content-Length of its size
        return Response(error_body("PAYLOAD_TOO_LARGE", too_large_message()), status=413)
    if isinstance(exc, SuspiciousOperation):  # e.g. a form body with more fields than allowed
        return Response(error_body("VALIDATION_ERROR", str(exc), recoverable=True), status=400)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.ValidationError):
        return Response(
            {
                "detail": {
                    "error": "VALIDATION_ERROR",
                    "message": _first_message(exc.detail),
                    "recoverable": True,
                    "fields": exc.detail,
                }
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    response = drf_handler(exc, context)
    if response is None:
        return None
    code, message = next(((c, m) for cls, (c, m) in _CODES.items() if isinstance(exc, cls)), ("ERROR", None))
    response.data = {
        "detail": {
            "error": code,
            "message": message or str(exc.detail),
            "recoverable": code in ("RATE_LIMITED",),
        }
    }
    return response


def _first_message(detail, path="") -> str:
    if isinstance(detail, dict):
        for key, value in detail.items():
            return _first_message(value, f"{path}.{key}" if path else str(key))
    if isinstance(detail, list) and detail:
        first = detail[0]
        index = "" if isinstance(first, str) else "[0]"
        return _first_message(first, path + index)
    return f"{path}: {detail}" if path and path != "non_field_errors" else str(detail)
