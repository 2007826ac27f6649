"""The built-in draup-world simulator: the contract's endpoints (the three of the critical path
and the seven enhancement workflows), served by this site under /simulator/ when
DRAUP_WORLD_SIMULATOR is on.

Deterministic (the same role gets the same score), idempotent (a seen Idempotency-Key gets
the first answer again), and it records every call. Faults come from rates in
settings.SIMULATOR (seeded) or from SimulatorFault rows, which answer the next calls exactly.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.http import Http404, HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from onboarding.contract import (
    CREATE_COMPANY_ROLE,
    IDEMPOTENCY_KEY_HEADER,
    LINK_JOB_DESCRIPTION,
    RATE_LIMITED,
    REPLAYED_HEADER,
    RESKILLING,
    RUN_AI_ASSESSMENT,
    SKILLS_ARCHITECTURE,
    SKILLS_CATALOG,
    SKILLS_MINER,
    SLUGS,
    STANDARDIZE_TASKS,
    TASK_FEASIBILITY,
    TOP_TASKS,
    TRACE_ID_HEADER,
)
from onboarding.models import SimulatorCall, SimulatorFault
from onboarding.models.simulator import FaultKind

ENDPOINTS = {slug: endpoint for endpoint, slug in SLUGS.items()}
RATE_LIMITED_ENDPOINTS = RATE_LIMITED
TASK_POOL = [
    "Review incoming documents",
    "Enter data into core systems",
    "Prepare weekly reports",
    "Answer routine customer questions",
    "Schedule meetings and follow-ups",
    "Reconcile records across systems",
    "Draft standard correspondence",
    "Analyse trends in data",
    "Negotiate with partners",
    "Coach and develop team members",
    "Plan and prioritise work",
    "Investigate exceptions",
    "Check compliance with policy",
    "Present findings to stakeholders",
]


class Answer(Exception):
    def __init__(self, status: int, body: dict, headers: dict | None = None):
        self.status, self.body, self.headers = status, body, headers or {}


def _error(status: int, code: str, message: str, **headers) -> Answer:
    return Answer(status, {"error": code, "message": message}, headers)


IN_PROGRESS = 0  # the status of a call still being worked on
STUCK_AFTER_SECONDS = 3600  # longer than any latency and hang: such a call will never answer


@csrf_exempt
@require_POST
async def endpoint_view(request: HttpRequest, path: str) -> JsonResponse:
    """Async, so that a thousand slow calls in flight cost no thread and no database
    connection each: the simulated latency is an `asyncio.sleep` with the connection closed."""
    if not settings.DRAUP_WORLD_SIMULATOR:
        raise Http404("The draup-world simulator is off.")
    endpoint = ENDPOINTS.get(path)
    if endpoint is None:
        raise Http404("Unknown draup-world endpoint.")
    started = time.monotonic()
    call = await sync_to_async(_arrive)(request, endpoint, started)
    while call.same_key_running:  # a repeat of a call still being worked on: await its answer
        await asyncio.sleep(0.05)
        call = await sync_to_async(_arrive)(request, endpoint, started)
    answer = call.answer
    if call.recorded and answer is not None:  # answered and recorded on arrival
        return _response(answer)
    try:
        if answer is None:
            assert call.payload is not None, "a call not answered on arrival has its payload read"
            delay = settings.SIMULATOR["LATENCY"].get(endpoint, 0) + call.hang
            if delay:
                await asyncio.sleep(delay)
            answer = await sync_to_async(_work)(endpoint, call.payload)
    except asyncio.CancelledError:
        # The client hung up and the ASGI server cancelled us: the work was not done.
        answer = _error(499, "CLIENT_CLOSED_REQUEST", "The client went away before the answer.")
        await asyncio.shield(sync_to_async(_record)(call, answer, int((time.monotonic() - started) * 1000)))
        raise
    await sync_to_async(_record)(call, answer, int((time.monotonic() - started) * 1000))
    return _response(answer)


def _response(answer: Answer) -> JsonResponse:
    response = JsonResponse(answer.body, status=answer.status)
    for name, value in answer.headers.items():
        response[name] = value
    return response


@dataclass
class Arrival:
    endpoint: str
    key: str
    trace_id: str
    payload: dict | None = None
    answer: Answer | None = None  # answered at once (refused, replayed, a fault)
    replayed: bool = False
    same_key_running: bool = False
    recorded: bool = False
    hang: float = 0.0
    row_id: int | None = None


def _arrive(request: HttpRequest, endpoint: str, started: float) -> Arrival:
    """Check the call and decide its fate; record it as started; let go of the connection. A
    call with no latency to simulate is answered and recorded here, in the same hop."""
    call = Arrival(
        endpoint, request.headers.get(IDEMPOTENCY_KEY_HEADER, ""), request.headers.get(TRACE_ID_HEADER, "")
    )
    try:
        call.payload = _authorised_payload(request)
        seen = _seen(endpoint, call.key)
        if seen.first_answer is not None:
            call.replayed = True
            raise Answer(200, seen.first_answer, {REPLAYED_HEADER: "true"})
        if seen.running:  # a repeat of a call still being worked on: the work happens once
            call.same_key_running = True
            return call
        call.hang = _maybe_fail(endpoint, call.key, seen.tries)
        call.row_id = _start_work(call)
        call.same_key_running = call.row_id is None
        if call.row_id and not call.hang and not settings.SIMULATOR["LATENCY"].get(endpoint, 0):
            call.answer = _work(endpoint, call.payload)
            _record(call, call.answer, int((time.monotonic() - started) * 1000))
            call.recorded = True
    except Answer as answer:
        call.answer = answer
    finally:
        connection.close()
    return call


def _start_work(call: Arrival) -> int | None:
    """Record the call as at work; None when a call with the same key is at work already.
    Raises the replay when one with the same key finished meanwhile (a slow server can let a
    retry overtake the first call): the work is done once."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                row = SimulatorCall.objects.create(
                    endpoint=call.endpoint,
                    idempotency_key=call.key,
                    trace_id=call.trace_id,
                    status_code=IN_PROGRESS,
                    request=call.payload,
                )
        except IntegrityError:
            return None
        done = SimulatorCall.objects.filter(
            endpoint=call.endpoint, idempotency_key=call.key, status_code=200, replayed=False
        )
        first = done.exclude(pk=row.pk).values_list("response", flat=True).first() if call.key else None
        if first is None:
            return row.pk
        row.delete()
    call.replayed = True
    raise Answer(200, first, {REPLAYED_HEADER: "true"})


@dataclass
class Seen:
    first_answer: dict | None = None
    running: bool = False
    tries: int = 0


def _seen(endpoint: str, key: str) -> Seen:
    """What this Idempotency-Key has had before, in one query: its first successful answer,
    whether a call with it is being worked on, how many calls it made."""
    seen = Seen()
    if not key:
        return seen
    rows = SimulatorCall.objects.filter(endpoint=endpoint, idempotency_key=key).order_by("id")
    gone = timezone.now() - timedelta(seconds=STUCK_AFTER_SECONDS)
    for pk, status, replayed, response, created in rows.values_list(
        "pk", "status_code", "replayed", "response", "created_at"
    ):
        seen.tries += 1
        if status == 200 and not replayed and seen.first_answer is None:
            seen.first_answer = response
        if status == IN_PROGRESS and created < gone:  # its server process died mid-call
            SimulatorCall.objects.filter(pk=pk, status_code=IN_PROGRESS).update(status_code=499)
        elif status == IN_PROGRESS:
            seen.running = True
    return seen


def _work(endpoint: str, payload: dict) -> Answer:
    try:
        return Answer(200, HANDLERS[endpoint](payload))
    except Answer as answer:
        return answer
    finally:
        connection.close()


def _record(call: Arrival, answer: Answer, duration_ms: int) -> None:
    values = dict(status_code=answer.status, response=answer.body, duration_ms=duration_ms)
    try:
        if call.row_id is not None:
            SimulatorCall.objects.filter(pk=call.row_id).update(**values)
        else:
            SimulatorCall.objects.create(
                endpoint=call.endpoint,
                idempotency_key=call.key,
                trace_id=call.trace_id,
                request=call.payload,
                replayed=call.replayed,
                **values,
            )
    finally:
        connection.close()


def _authorised_payload(request: HttpRequest) -> dict:
    token = settings.SIMULATOR["TOKEN"]
    if token and request.headers.get("Authorization") != f"Bearer {token}":
        raise _error(401, "UNAUTHORIZED", "Missing or wrong bearer token.")
    try:
        payload = json.loads(request.body or b"null")
    except ValueError:
        raise _error(400, "INVALID_JSON", "The request body is not JSON.") from None
    if not isinstance(payload, dict):
        raise _error(400, "INVALID_JSON", "The request body must be a JSON object.")
    return payload


def _maybe_fail(endpoint: str, key: str, tries: int) -> float:
    """Raise the fault this call gets, if any; return how long it should hang first."""
    fault = _take_fault(endpoint)
    if fault is not None:
        _raise_fault(fault.kind, fault.retry_after)
        return fault.hang_seconds or settings.SIMULATOR["HANG_SECONDS"]
    cfg = settings.SIMULATOR
    rng = random.Random(f"{cfg['SEED']}:{endpoint}:{key}:{tries}")
    roll = rng.random()
    if roll < cfg["RATE_503"]:
        _raise_fault(FaultKind.SERVER_ERROR)
    if roll < cfg["RATE_503"] + cfg["RATE_429"]:
        _raise_fault(FaultKind.RATE_LIMITED, cfg["RETRY_AFTER"])
    hang = cfg["HANG_SECONDS"] if roll < cfg["RATE_503"] + cfg["RATE_429"] + cfg["RATE_HANG"] else 0.0
    if endpoint in RATE_LIMITED_ENDPOINTS and cfg["ASSESSMENTS_PER_MINUTE"]:
        _enforce_rate_limit(cfg["ASSESSMENTS_PER_MINUTE"])
    return hang


def _take_fault(endpoint: str) -> SimulatorFault | None:
    if not SimulatorFault.objects.filter(endpoint=endpoint, remaining__gt=0).exists():
        return None  # the usual case: no lock taken
    with transaction.atomic():
        fault = (
            SimulatorFault.objects.select_for_update()
            .filter(endpoint=endpoint, remaining__gt=0)
            .order_by("id")
            .first()
        )
        if fault is not None:
            fault.remaining -= 1
            fault.save(update_fields=["remaining"])
    return fault


def _raise_fault(kind: str, retry_after: int | None = None) -> None:
    """Answer with the fault now; a hang returns, and the caller sleeps before working."""
    if kind == FaultKind.SERVER_ERROR:
        raise _error(503, "UNAVAILABLE", "draup-world is temporarily unavailable.")
    if kind == FaultKind.RATE_LIMITED:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        raise _error(429, "RATE_LIMITED", "Too many assessments; slow down.", **headers)
    if kind == FaultKind.BAD_REQUEST:
        raise _error(400, "INVALID_REQUEST", "The role name contains characters draup-world refuses.")
    if kind == FaultKind.UNAUTHORIZED:
        raise _error(401, "UNAUTHORIZED", "Missing or wrong bearer token.")
    if kind == FaultKind.BROKEN_BODY:
        raise Answer(200, {"unexpected": True})


def _enforce_rate_limit(per_minute: int) -> None:
    """At most `per_minute` LLM calls started in any 60 s (a call counts from when it starts)."""
    window_start = timezone.now() - timedelta(seconds=60)
    recent = list(
        SimulatorCall.objects.filter(
            endpoint__in=RATE_LIMITED_ENDPOINTS,
            status_code__in=[IN_PROGRESS, 200],
            replayed=False,
            created_at__gte=window_start,
        )
        .order_by("created_at")
        .values_list("created_at", flat=True)[:per_minute]
    )
    if len(recent) >= per_minute:
        free_at = recent[0] + timedelta(seconds=60)
        wait = max(1, math.ceil((free_at - timezone.now()).total_seconds()))
        raise _error(
            429, "RATE_LIMITED", f"At most {per_minute} LLM calls a minute.", **{"Retry-After": str(wait)}
        )


# --- the work ----------------------------------------------------------------------------


def _required_str(payload: dict, name: str) -> str:
    value = payload.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _error(422, "INVALID_REQUEST", f"{name} is required.")
    return value


def _known_company_role(company_role_id: str) -> None:
    if not SimulatorCall.objects.filter(
        endpoint=CREATE_COMPANY_ROLE, status_code=200, response__company_role_id=company_role_id
    ).exists():
        raise _error(404, "NOT_FOUND", f"No company role {company_role_id}.")


def create_company_role(payload: dict) -> dict:
    company, role = _required_str(payload, "company_name"), _required_str(payload, "role_name")
    return {"company_role_id": f"cr-{slugify(company)}-{slugify(role)}"}


def link_job_description(payload: dict) -> dict:
    company_role_id = _required_str(payload, "company_role_id")
    content, uri = payload.get("jd_content") or "", payload.get("jd_uri") or ""
    if not isinstance(content, str) or not isinstance(uri, str):
        raise _error(422, "INVALID_REQUEST", "jd_content and jd_uri are text.")
    if bool(content) == bool(uri):
        raise _error(422, "INVALID_REQUEST", "Give exactly one of jd_content and jd_uri.")
    _known_company_role(company_role_id)
    digest = hashlib.sha1(_download(uri) if uri else content.encode()).hexdigest()
    return {"jd_linked": True, "jd_id": f"jd-{digest[:12]}"}


def _download(uri: str) -> bytes:
    try:
        response = requests.get(uri, timeout=settings.SIMULATOR["JD_DOWNLOAD_TIMEOUT"])
    except requests.RequestException as exc:
        raise _error(422, "JD_DOWNLOAD_FAILED", f"Could not download jd_uri: {type(exc).__name__}.") from None
    if response.status_code != 200 or not response.content:
        raise _error(
            422, "JD_DOWNLOAD_FAILED", f"Could not download jd_uri: it answered {response.status_code}."
        )
    return response.content


def run_ai_assessment(payload: dict) -> dict:
    company, role = _required_str(payload, "company_name"), _required_str(payload, "role_name")
    company_role_id = _required_str(payload, "company_role_id")
    _known_company_role(company_role_id)
    seed = int(hashlib.sha256(f"{company}|{role}".encode()).hexdigest(), 16)
    rng = random.Random(seed)
    names = rng.sample(TASK_POOL, 5)
    shares = [rng.uniform(0.1, 1.0) for _ in names]
    tasks: list[dict[str, Any]] = [
        {"name": n, "automation_score": round(rng.uniform(5, 95), 1), "time_share": round(s / sum(shares), 3)}
        for n, s in zip(names, shares, strict=True)
    ]
    score = round(sum(t["automation_score"] * t["time_share"] for t in tasks), 1)
    hours = round(40 * score / 100 * rng.uniform(0.4, 0.7), 1)
    impact = {
        "hours_saved_per_week": hours,
        "fte_equivalent": round(hours / 40, 2),
        "automation_potential": "high" if score >= 60 else "medium" if score >= 35 else "low",
    }
    return {
        "ai_automation_score": score,
        "tasks": tasks,
        "impact": impact,
        "dashboard_url": f"{settings.SITE_URL}/simulator/dashboard/{company_role_id}/",
        "usage": _usage(company_role_id, RUN_AI_ASSESSMENT),
    }


def _usage(company_role_id: str, endpoint: str) -> dict:
    """Plausible token counts that grow with the length of the JD linked to the role (the
    contract's "Usage"), the same for the same role and endpoint."""
    linked = (
        SimulatorCall.objects.filter(
            endpoint=LINK_JOB_DESCRIPTION, status_code=200, request__company_role_id=company_role_id
        )
        .values_list("request", flat=True)
        .last()
    ) or {}
    jd_chars = len(linked.get("jd_content") or linked.get("jd_uri") or "")
    rng = random.Random(f"{company_role_id}:{endpoint}:usage")
    return {
        "input_tokens": 800 + jd_chars // 4 + rng.randint(0, 200),
        "output_tokens": 300 + rng.randint(0, 400),
    }


# --- the enhancement workflows: each needs the company role and what its parents returned ---


def _enhancement_input(payload: dict, needs: str) -> tuple[str, random.Random, object]:
    company_role_id = _required_str(payload, "company_role_id")
    if payload.get(needs) is None:
        raise _error(422, "INVALID_REQUEST", f"{needs} is required.")
    _known_company_role(company_role_id)
    return company_role_id, random.Random(f"{company_role_id}:{needs}"), payload[needs]


def _objects_input(payload: dict, needs: str) -> tuple[str, random.Random, list[dict]]:
    """An input that is a list of objects (tasks, skills); anything else is a 422."""
    company_role_id, rng, value = _enhancement_input(payload, needs)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise _error(422, "INVALID_REQUEST", f"{needs} must be a list of objects.")
    return company_role_id, rng, value


def _count_input(payload: dict, needs: str) -> tuple[str, random.Random, int]:
    """An input that is a count (clusters, catalog entries); anything else is a 422."""
    company_role_id, rng, value = _enhancement_input(payload, needs)
    if not isinstance(value, int):
        raise _error(422, "INVALID_REQUEST", f"{needs} must be a whole number.")
    return company_role_id, rng, value


def _score(task: dict) -> float:
    score = task.get("automation_score")
    return float(score) if isinstance(score, int | float) else 0.0


def top_tasks(payload: dict) -> dict:
    company_role_id, _, tasks = _objects_input(payload, "tasks")
    ranked = sorted(tasks, key=lambda t: -_score(t))[:3]
    top = [
        {"name": t.get("name"), "rank": i, "automation_score": t.get("automation_score")}
        for i, t in enumerate(ranked, 1)
    ]
    return {"top_tasks": top, "usage": _usage(company_role_id, TOP_TASKS)}


def standardize_tasks(payload: dict) -> dict:
    _, _, top = _objects_input(payload, "top_tasks")
    return {"standardized": len(top)}


SKILL_POOL = [
    ("Data analysis", "technical"),
    ("Stakeholder communication", "interpersonal"),
    ("Process automation", "technical"),
    ("Negotiation", "interpersonal"),
    ("Regulatory knowledge", "domain"),
    ("Prompt writing", "technical"),
    ("Coaching", "leadership"),
]


def skills_miner(payload: dict) -> dict:
    company_role_id, rng, _ = _objects_input(payload, "tasks")
    skills = [{"name": n, "category": c} for n, c in rng.sample(SKILL_POOL, 4)]
    return {"skills": skills, "usage": _usage(company_role_id, SKILLS_MINER)}


def skills_architecture(payload: dict) -> dict:
    _, _, skills = _objects_input(payload, "skills")
    return {"clusters": len({s.get("category") for s in skills})}


def task_feasibility(payload: dict) -> dict:
    company_role_id, _, tasks = _objects_input(payload, "tasks")
    feasible = sum(1 for t in tasks if _score(t) >= 50)
    return {
        "feasible_tasks": feasible,
        "infeasible_tasks": len(tasks) - feasible,
        "usage": _usage(company_role_id, TASK_FEASIBILITY),
    }


def skills_catalog(payload: dict) -> dict:
    _, rng, clusters = _count_input(payload, "clusters")
    return {"catalog_entries": clusters * rng.randint(3, 6)}


def reskilling(payload: dict) -> dict:
    _, rng, entries = _count_input(payload, "catalog_entries")
    return {"pathways": max(1, entries // rng.randint(2, 4))}


HANDLERS = {
    CREATE_COMPANY_ROLE: create_company_role,
    LINK_JOB_DESCRIPTION: link_job_description,
    RUN_AI_ASSESSMENT: run_ai_assessment,
    TOP_TASKS: top_tasks,
    STANDARDIZE_TASKS: standardize_tasks,
    SKILLS_MINER: skills_miner,
    SKILLS_ARCHITECTURE: skills_architecture,
    TASK_FEASIBILITY: task_feasibility,
    SKILLS_CATALOG: skills_catalog,
    RESKILLING: reskilling,
}


def dashboard_view(request: HttpRequest, company_role_id: str) -> JsonResponse:
    """A stand-in for the Etter dashboard page the assessment links to."""
    if not settings.DRAUP_WORLD_SIMULATOR:
        raise Http404("The draup-world simulator is off.")
    answer = (
        SimulatorCall.objects.filter(
            endpoint=RUN_AI_ASSESSMENT, status_code=200, request__company_role_id=company_role_id
        )
        .values_list("response", flat=True)
        .last()
    )
    if answer is None:
        raise Http404("No assessment for this role yet.")
    return JsonResponse({"company_role_id": company_role_id, "assessment": answer})
