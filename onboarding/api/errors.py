"""Every API error in the documented shape: {"detail": {"error", "message", "recoverable"}}."""

from django.http import Http404
from rest_framework import exceptions, status
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


def handle(exc, context):
    if isinstance(exc, AppError):
        return Response({"detail": exc.as_dict()}, status=exc.status, headers=getattr(exc, "headers", None))
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
