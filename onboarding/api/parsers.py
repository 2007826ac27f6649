"""The API's JSON parser: DRF's, refusing bodies nested deeper than API_JSON_MAX_DEPTH.

No call takes more than a few levels (push-batch: body, roles, a role, its documents, a
document). A body nested thousands deep would otherwise end in a RecursionError (a 500) in the
parser or in whatever walks the data next.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class DepthLimitedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.API_JSON_MAX_DEPTH
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:  # the decoder gave up long before we could count
            raise _too_deep(limit)
        if json_depth(data, stop_after=limit) > limit:
            raise _too_deep(limit)
        return data


def _too_deep(limit: int) -> ParseError:
    return ParseError(f"The JSON body is nested deeper than {limit} levels; no call needs more than a few.")


def json_depth(data, *, stop_after: int) -> int:
    """How deep arrays and objects nest in parsed JSON (a scalar: 0, [] or {}: 1), counted without
    recursion; stops counting once past `stop_after`."""
    deepest = 0
    pending = [(data, 1)] if isinstance(data, (list, dict)) else []
    while pending:
        value, depth = pending.pop()
        deepest = max(deepest, depth)
        if deepest > stop_after:
            break
        children = value.values() if isinstance(value, dict) else value
        pending.extend((child, depth + 1) for child in children if isinstance(child, (list, dict)))
    return deepest
