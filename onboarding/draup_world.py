"""The draup-world HTTP client: the only code that speaks HTTP to draup-world.

Contract: ../shared/draup-world-contract.md. Every call has a connect and a read timeout, an
Idempotency-Key that stays the same across attempts, and the run's trace id. Every failure
becomes a DraupWorldError that says whether retrying can help.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

from onboarding.contract import (  # noqa: F401  (callers name endpoints through the client)
    CREATE_COMPANY_ROLE,
    ENHANCEMENT_ANSWERS,
    IDEMPOTENCY_KEY_HEADER,
    LINK_JOB_DESCRIPTION,
    LLM_BACKED,
    REPLAYED_HEADER,
    RUN_AI_ASSESSMENT,
    TRACE_ID_HEADER,
    path,
)


class DraupWorldError(Exception):
    """A failed call. `retryable` says whether the same call later can succeed."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        retryable: bool,
        status: int | None = None,
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.code = code
        self.message = message
        self.retryable = retryable
        self.status = status
        self.retry_after = retry_after

    def as_dict(self) -> dict[str, Any]:
        return {
            "error": self.code,
            "message": self.message,
            "recoverable": self.retryable,
            "http_status": self.status,
        }


@dataclass
class CallContext:
    """What one attempt sends (its key and trace id) and, once answered, what came back."""

    idempotency_key: str
    trace_id: str
    http_status: int | None = None
    replayed: bool = False


class DraupWorldClient:
    def __init__(
        self,
        *,
        base_url: str,
        token: str = "",
        connect_timeout: float = 5.0,
        read_timeouts: dict[str, float] | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeouts = read_timeouts or {}
        self.session = requests.Session()
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    # --- the three endpoints ---------------------------------------------------------

    def create_company_role(
        self, ctx: CallContext, *, company_name: str, role_name: str, draup_role: str | None
    ) -> str:
        body = self._post(
            CREATE_COMPANY_ROLE,
            ctx,
            {"company_name": company_name, "role_name": role_name, "draup_role": draup_role},
        )
        return _require_str(body, "company_role_id", CREATE_COMPANY_ROLE)

    def link_job_description(
        self,
        ctx: CallContext,
        *,
        company_role_id: str,
        jd_content: str | None,
        jd_uri: str | None,
        metadata: dict[str, Any],
    ) -> str:
        body = self._post(
            LINK_JOB_DESCRIPTION,
            ctx,
            {
                "company_role_id": company_role_id,
                "jd_content": jd_content,
                "jd_uri": jd_uri,
                "metadata": metadata,
            },
        )
        if body.get("jd_linked") is not True:
            raise _broken(LINK_JOB_DESCRIPTION, "jd_linked is not true")
        return _require_str(body, "jd_id", LINK_JOB_DESCRIPTION)

    def run_ai_assessment(
        self,
        ctx: CallContext,
        *,
        company_name: str,
        role_name: str,
        company_role_id: str,
        delete_existing: bool = True,
        store_in_neo4j: bool = True,
    ) -> dict[str, Any]:
        body = self._post(
            RUN_AI_ASSESSMENT,
            ctx,
            {
                "company_name": company_name,
                "role_name": role_name,
                "company_role_id": company_role_id,
                "delete_existing": delete_existing,
                "store_in_neo4j": store_in_neo4j,
            },
        )
        return _checked_assessment(body)

    def run_enhancement(self, endpoint: str, ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
        """One enhancement workflow (contract, "The enhancement workflows"): the answer's
        documented fields, checked, plus `usage` for the LLM-backed ones."""
        return _checked_enhancement(endpoint, self._post(endpoint, ctx, payload))

    # --- the wire --------------------------------------------------------------------

    def _post(self, endpoint: str, ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
        headers = {
            IDEMPOTENCY_KEY_HEADER: ctx.idempotency_key,
            TRACE_ID_HEADER: ctx.trace_id,
            "Content-Type": "application/json",
        }
        timeout = (self.connect_timeout, self.read_timeouts.get(endpoint, 300.0))
        try:
            response = self.session.post(
                self.base_url + path(endpoint), json=payload, headers=headers, timeout=timeout
            )
        except requests.Timeout:
            raise DraupWorldError(
                "TIMEOUT", f"draup-world did not answer {endpoint} within {timeout[1]:g} s", retryable=True
            ) from None
        except requests.ConnectionError as exc:
            raise DraupWorldError(
                "CONNECTION_ERROR",
                f"could not reach draup-world at {self.base_url}: {type(exc).__name__}",
                retryable=True,
            ) from None
        ctx.http_status = response.status_code
        ctx.replayed = response.headers.get(REPLAYED_HEADER, "").lower() == "true"
        if response.status_code != 200:
            raise _error_for(response)
        try:
            body = response.json()
        except ValueError:
            raise _broken(endpoint, "the answer is not JSON") from None
        if not isinstance(body, dict):
            raise _broken(endpoint, "the answer is not a JSON object")
        return body


def _error_for(response: requests.Response) -> DraupWorldError:
    status = response.status_code
    try:
        body = response.json()
        detail = body.get("message") or body.get("error") or ""
    except (ValueError, AttributeError):
        detail = response.text[:200]
    if status in (401, 403):
        return DraupWorldError(
            "UNAUTHORIZED",
            "draup-world rejected the credentials (check DRAUP_WORLD_TOKEN)",
            retryable=False,
            status=status,
        )
    if status == 429:
        return DraupWorldError(
            "RATE_LIMITED",
            "draup-world is rate-limiting assessments",
            retryable=True,
            status=status,
            retry_after=_seconds(response.headers.get("Retry-After")),
        )
    if status >= 500:
        return DraupWorldError(
            "SERVER_ERROR",
            f"draup-world had trouble ({status}) {detail}".strip(),
            retryable=True,
            status=status,
        )
    codes = {400: "INVALID_REQUEST", 422: "INVALID_REQUEST", 404: "NOT_FOUND", 409: "CONFLICT"}
    return DraupWorldError(
        codes.get(status, "HTTP_ERROR"),
        f"draup-world refused the request ({status}): {detail}",
        retryable=False,
        status=status,
    )


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date Retry-After: fall back to our own backoff


def _broken(endpoint: str, what: str) -> DraupWorldError:
    return DraupWorldError(
        "BAD_RESPONSE",
        f"draup-world answered {endpoint} with a broken body: {what}",
        retryable=False,
        status=200,
    )


def _require_str(body: dict[str, Any], key: str, endpoint: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise _broken(endpoint, f"{key} is missing")
    return value


def _checked_assessment(body: dict[str, Any]) -> dict[str, Any]:
    score = body.get("ai_automation_score")
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not 0 <= score <= 100:
        raise _broken(RUN_AI_ASSESSMENT, "ai_automation_score is missing or not between 0 and 100")
    tasks = body.get("tasks")
    if not isinstance(tasks, list) or not all(isinstance(t, dict) and "name" in t for t in tasks):
        raise _broken(RUN_AI_ASSESSMENT, "tasks is missing or not a list of named tasks")
    if not isinstance(body.get("impact"), dict):
        raise _broken(RUN_AI_ASSESSMENT, "impact is missing")
    url = body.get("dashboard_url")
    if url is not None and not isinstance(url, str):
        raise _broken(RUN_AI_ASSESSMENT, "dashboard_url is not a string")
    return {
        "ai_automation_score": float(score),
        "tasks": tasks,
        "impact": body["impact"],
        "dashboard_url": url,
        **_checked_usage(RUN_AI_ASSESSMENT, body),
    }


def _checked_enhancement(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """The documented fields of an enhancement's answer, or BAD_RESPONSE naming the first
    one missing or of the wrong type."""
    kept: dict[str, Any] = {}
    for name, (kind, keys) in ENHANCEMENT_ANSWERS[endpoint].items():
        value = body.get(name)
        if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise _broken(endpoint, f"{name} is missing or not a whole number")
        if kind is list and (
            not isinstance(value, list) or not all(isinstance(i, dict) and set(keys) <= set(i) for i in value)
        ):
            raise _broken(endpoint, f"{name} is missing or not a list of objects with {', '.join(keys)}")
        kept[name] = value
    return {**kept, **_checked_usage(endpoint, body)}


def _checked_usage(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """{"usage": {...}} of an LLM-backed answer (contract, "Usage"), or {} when it has none: a
    service that does not meter yet is not broken; one that sends nonsense is."""
    usage = body.get("usage")
    if endpoint not in LLM_BACKED or usage is None:
        return {}
    for name in ("input_tokens", "output_tokens"):
        value = usage.get(name) if isinstance(usage, dict) else None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _broken(endpoint, f"usage.{name} is missing or not a whole number")
    return {"usage": {"input_tokens": usage["input_tokens"], "output_tokens": usage["output_tokens"]}}


_local = threading.local()


def client(*, use_simulator: bool = False) -> DraupWorldClient:
    """One client (one connection pool) per thread and target, rebuilt when settings change.
    `use_simulator` targets this site's built-in simulator (a push with ?use_mock=true)."""
    if use_simulator:
        base_url, token = f"{settings.SITE_URL}/simulator", settings.SIMULATOR["TOKEN"]
    else:
        base_url, token = settings.DRAUP_WORLD_BASE_URL, settings.DRAUP_WORLD_TOKEN
    key = (
        base_url,
        token,
        settings.DRAUP_WORLD_CONNECT_TIMEOUT,
        tuple(sorted(settings.DRAUP_WORLD_READ_TIMEOUTS.items())),
    )
    clients = _local.__dict__.setdefault("clients", {})
    if key not in clients:
        clients[key] = DraupWorldClient(
            base_url=base_url,
            token=token,
            connect_timeout=settings.DRAUP_WORLD_CONNECT_TIMEOUT,
            read_timeouts=settings.DRAUP_WORLD_READ_TIMEOUTS,
        )
    return clients[key]
