"""How names and texts compare: one rule for every way roles come in."""

import re

from django.template.defaultfilters import filesizeformat

_WHITESPACE = re.compile(r"\s+")


def normalize_name(name: str) -> str:
    """A role or company name as stored: surrounding whitespace gone, inner runs one space."""
    return _WHITESPACE.sub(" ", name).strip()


def name_key(name: str) -> str:
    """What two names must share to be the same role (or company)."""
    return normalize_name(name).casefold()


def normalize_text(text: str) -> str:
    """JD text as compared: a browser posts CRLF, an API client LF; the same text either way."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def too_big(what: str, size: int, limit: int) -> str:
    """The one wording of a size refusal: what, how big, and the limit."""
    return f"{what} is {_size(size)}; at most {_size(limit)} is accepted."


def _size(n: int) -> str:
    return filesizeformat(n).replace("\xa0", " ")
