"""The only module that makes outbound HTTP for operations: a signed JSON POST with a timeout.

Signature: header `X-Etter-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`
with the rule's secret. The receiver recomputes it and refuses an old `t` (replays)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import requests
from django.conf import settings

ANSWER_KEPT = 2000  # characters of the receiver's answer kept on the attempt row


@dataclass(frozen=True)
class Answer:
    ok: bool
    # Retrying cannot help (a 4xx, a bad URL): stop now.
    permanent: bool
    http_status: int | None
    text: str


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={sign(secret, timestamp, body)}"


def verify(secret: str, header: str, body: bytes, *, tolerance: float = 300) -> bool:
    """What a receiver does (and what our tests do)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    fresh = abs(time.time() - timestamp) <= tolerance
    return fresh and hmac.compare_digest(parts.get("v1", ""), sign(secret, timestamp, body))


def post(url: str, secret: str, payload: dict, *, headers: dict | None = None) -> Answer:
    body = json.dumps(payload, sort_keys=True, default=str).encode()
    all_headers = {
        "Content-Type": "application/json",
        "User-Agent": "etter-onboarding-webhooks/1",
        "X-Etter-Signature": signature_header(secret, body),
        **(headers or {}),
    }
    timeout = (settings.WEBHOOK_CONNECT_TIMEOUT_SECONDS, settings.WEBHOOK_TIMEOUT_SECONDS)
    try:
        response = requests.post(
            url, data=body, headers=all_headers, timeout=timeout, allow_redirects=False, stream=True
        )
        text = _start_of(response)
    except requests.Timeout:
        return Answer(False, False, None, f"No answer within {settings.WEBHOOK_TIMEOUT_SECONDS:g} s")
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
        return Answer(False, True, None, f"Bad URL: {exc}")
    except requests.RequestException as exc:
        return Answer(False, False, None, f"Could not connect: {exc.__class__.__name__}")
    status = response.status_code
    if 200 <= status < 300:
        return Answer(True, False, status, text)
    # 5xx and 429 are the receiver's passing trouble; any other answer will not change.
    return Answer(False, not (status >= 500 or status == 429), status, text)


def _start_of(response: requests.Response) -> str:
    """The start of the body; a body that stalls past the read timeout is not waited for."""
    try:
        raw = response.raw.read(ANSWER_KEPT, decode_content=True) or b""
        return raw.decode("utf-8", "replace")
    except Exception as exc:  # urllib3's own timeout and protocol errors: the status still counts
        return f"(body not read: {exc.__class__.__name__})"
    finally:
        response.close()
