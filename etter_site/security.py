"""Checks the settings run at start: production refuses what would make it unsafe, naming the
setting and saying how to fix it (the same rules `manage.py check --deploy` warns about)."""

from __future__ import annotations

import re

from django.core.checks.security.base import (
    SECRET_KEY_INSECURE_PREFIX,
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEY_MIN_UNIQUE_CHARACTERS,
)
from django.core.exceptions import ImproperlyConfigured

MAKE_A_KEY = 'python -c "import secrets; print(secrets.token_urlsafe(50))"'


def secret_key_problem(key: str, *, development_key: str) -> str | None:
    """Why this key must not sign anything in production, or None when it may."""
    if not key:
        return "must be set when DEBUG is off"
    if key == development_key:
        return "is the development key published in this repository"
    if key.startswith(SECRET_KEY_INSECURE_PREFIX):
        return f"starts with {SECRET_KEY_INSECURE_PREFIX!r}, Django's mark of a throwaway key"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"is too short ({len(key)} characters; at least {SECRET_KEY_MIN_LENGTH})"
    if len(set(key)) < SECRET_KEY_MIN_UNIQUE_CHARACTERS:
        return (
            f"has too few different characters ({len(set(key))}; at least {SECRET_KEY_MIN_UNIQUE_CHARACTERS})"
        )
    return None


def refuse_insecure_secret_key(key: str, *, development_key: str) -> None:
    problem = secret_key_problem(key, development_key=development_key)
    if problem:
        raise ImproperlyConfigured(
            f"SECRET_KEY {problem}. With DEBUG off it signs sessions, password resets and JD download "
            f"links: anyone who knows or guesses it can forge them. Make one with\n    {MAKE_A_KEY}\n"
            "and set it as SECRET_KEY in the environment or in .env."
        )


_HEADER_NAME = re.compile(r"^[A-Za-z0-9_-]+$")


def proxy_ssl_header(name: str) -> tuple[str, str] | None:
    """SECURE_PROXY_SSL_HEADER from a header's name as the proxy sends it ("X-Forwarded-Proto"):
    a request is secure when that header says "https". Empty: no proxy is trusted."""
    if not name:
        return None
    if not _HEADER_NAME.match(name):
        raise ImproperlyConfigured(
            f"SECURE_PROXY_SSL_HEADER: {name!r} is not a header name; give the header your TLS proxy "
            "sets to 'https', e.g. X-Forwarded-Proto."
        )
    return ("HTTP_" + name.upper().replace("-", "_").removeprefix("HTTP_"), "https")
