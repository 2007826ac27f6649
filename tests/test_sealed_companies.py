"""Sealed companies: one batch mixes the roles of two companies (failed, ready, queued and
refused roles of both, and a refusal that names no known role). A CSM of the first company sees
and retries only its part, in every face; an admin sees and retries both; a CSM of neither
company is told the batch does not exist."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from batches.models import Batch
from batches.services import batch_push
from onboarding.models import Role, RoleDocument, RoleState, Run, RunStatus, SimulatorCall
from onboarding.services import role_push
from operations.models import Delivery, Event, InboxItem, SlaRecord
from operations.services import events_process
from tests.factories import CompanyFactory, RoleFactory, RuleFactory, UserFactory, force_state, ready_role
from tests.helpers import csm_group

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("alert_defaults")]
API = "/api/v1/pipeline/"
NEEDS_YOU, ENGINEER = "INVALID_REQUEST", "UNAUTHORIZED"  # who acts on each: the CSM, an engineer


@dataclass
class Part:
    """One company's part of the mixed batch."""

    company: object
    failed: list[Role]
    ready: list[Role]
    queued: list[Role]
    refused: list[Role]
    errors: list[str] = field(default_factory=list)

    @property
    def runs(self) -> list[Run]:
        return list(Run.objects.filter(role__in=self.failed + self.ready + self.queued).order_by("pk"))

    def secrets(self) -> list[str]:
        """What must never reach someone who does not see this company."""
        roles = self.failed + self.ready + self.queued + self.refused
        return [
            self.company.name,
            *(r.name for r in roles),
            *(r.workflow_id for r in self.runs),
            *self.errors,
        ]


@dataclass
class World:
    batch: Batch
    a: Part
    b: Part
    nowhere: str  # the refusal of a role id that does not exist: only the pusher and admins see it
    csm: object
    stranger: object
    admin: object

    def hidden_from_csms(self) -> list[str]:
        """B's part, what only the pusher sees, and the batch's name (it counts every role)."""
        return [*self.b.secrets(), self.nowhere, self.batch.name]


def _part(prefix: str, company_name: str, *, failed: int, ready: int, queued: int, refused: int) -> Part:
    company = CompanyFactory(name=company_name)

    def roles(kind: str, n: int) -> list[Role]:
        return [ready_role(company=company, name=f"{prefix} {kind} role {i}") for i in range(n)]

    no_jd = [RoleFactory(company=company, name=f"{prefix} refused role {i}") for i in range(refused)]
    return Part(company, roles("failed", failed), roles("ready", ready), roles("queued", queued), no_jd)


def _end(part: Part, tag: str) -> None:
    """Fail and finish runs as a worker would have left them (the tests of batches do the same)."""
    now = timezone.now()
    for i, role in enumerate(part.failed):
        message = f"{tag} trouble number {i}"
        part.errors.append(message)
        code = NEEDS_YOU if i % 2 == 0 else ENGINEER
        Run.objects.filter(role=role).update(
            status=RunStatus.FAILED,
            finished_at=now,
            error={"error": code, "message": message, "step": "role_setup"},
        )
        force_state(role, RoleState.FAILED)
    for role in part.ready:
        Run.objects.filter(role=role).update(status=RunStatus.READY, finished_at=now)
        force_state(role, RoleState.READY)


def _in_group(user):
    user.groups.add(csm_group())
    return user


@pytest.fixture
def world(admin_user) -> World:
    a = _part("Acme", "Acme Sealed Inc", failed=2, ready=1, queued=1, refused=1)
    b = _part("Beta", "Beta Sealed Ltd", failed=3, ready=2, queued=2, refused=2)
    csm = _in_group(UserFactory(can_push=True, email="csm-a@example.com"))
    a.company.csms.add(csm)
    stranger = _in_group(UserFactory(can_push=True, email="csm-c@example.com"))
    CompanyFactory(name="Gamma Elsewhere").csms.add(stranger)
    missing = Role.objects.order_by("-pk").values_list("pk", flat=True).first() + 1000
    ids = [r.pk for p in (a, b) for r in p.failed + p.ready + p.queued + p.refused] + [missing]
    batch = batch_push(role_ids=sorted(ids), user=admin_user, name=f"{len(ids)} roles from the admin")
    _end(a, "acme"), _end(b, "beta")
    for run in Run.objects.filter(batch_key=batch.batch_id).select_related("role__company"):
        SimulatorCall.objects.create(
            endpoint="create_company_role",
            trace_id=run.trace_id,
            status_code=200,
            request={"company_name": run.role.company.name, "role_name": run.role.name},
        )
    # Digests of the batch: the pusher's (built in), an admin's rule to the companies' CSMs,
    # and the rules each CSM made for themselves.
    RuleFactory(
        name="Batch done: CSMs' inbox", event_type="batch.completed", action="inbox", recipients="csms"
    )
    RuleFactory(owner=csm, name="My batches", event_type="batch.completed", addresses="csm-a@example.com")
    RuleFactory(
        owner=stranger, name="Their batches", event_type="batch.completed", addresses="csm-c@example.com"
    )
    Event.objects.create(type="batch.completed", batch=batch, actor=admin_user, correlation_id=batch.batch_id)
    events_process()
    return World(batch, a, b, f"No role with id {missing}.", csm, stranger, admin_user)


def session(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def token(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def body_of(response) -> str:
    if hasattr(response, "streaming_content"):
        return b"".join(response.streaming_content).decode()
    return response.content.decode()


# --- what each face shows, and the counts it gives --------------------------------------------


@dataclass
class Seen:
    status: int
    body: str
    counts: dict = field(default_factory=dict)
    asked: str = ""  # what the request itself said (a page may echo it back)

    def shows(self, strings: list[str]) -> list[str]:
        return [s for s in strings if s in self.body and s not in self.asked]


def _api_status(w: World, user) -> Seen:
    r = token(user).get(API + f"batch-status/{w.batch.batch_id}")
    data = r.json()
    counts = {"total": data.get("total"), "failed": (data.get("counts") or {}).get("failed")}
    return Seen(r.status_code, body_of(r), {**counts, "refused": data.get("refused")})


def _page(name: str):
    def face(w: World, user) -> Seen:
        r = session(user).get(reverse(name, args=[w.batch.pk]))
        if r.status_code != 200:
            return Seen(r.status_code, body_of(r))
        s, body = r.context["status"], body_of(r)
        counts = {"total": s.total, "failed": s.counts["FAILED"], "refused": s.refused}
        if sla := re.search(r"SLA: \d+ of (\d+) runs of this batch", body):
            counts["sla_runs"] = int(sla[1])
        return Seen(200, body, counts)

    return face


def _admin_batch(w: World, user) -> Seen:
    r = session(user).get(reverse("admin:batches_batch_change", args=[w.batch.pk]))
    body = body_of(r)
    total = re.search(r"(\d+) of (\d+) queued roles finished", body)
    return Seen(r.status_code, body, {"total": int(total[2])} if total else {})


def _changelist(url, query: str = ""):
    def face(w: World, user) -> Seen:
        r = session(user).get(url(w) + query.format(w=w))
        counts = {"rows": r.context["cl"].result_count} if r.status_code == 200 else {}
        return Seen(r.status_code, body_of(r), counts, asked=query.format(w=w))

    return face


def _get(url):
    def face(w: World, user) -> Seen:
        r = session(user).get(url(w))
        return Seen(r.status_code, body_of(r))

    return face


def _history(w: World, user) -> Seen:
    r = token(user).get(API + f"history/{w.a.company.name}")
    return Seen(r.status_code, body_of(r), {"rows": r.json().get("count")} if r.status_code == 200 else {})


def _stats(w: World, user) -> Seen:
    r = token(user).get(API + "stats", {"window": "1h"})
    runs = r.json().get("runs_by_status", {}) if r.status_code == 200 else {}
    return Seen(r.status_code, body_of(r), {"total": sum(runs.values())} if runs else {})


def _digest(w: World, user) -> Seen:
    """What the batch's completion sent this user: inbox entries and emails."""
    items = InboxItem.objects.filter(user=user, event__batch=w.batch)
    mails = Delivery.objects.filter(event__batch=w.batch, target=user.email)
    texts = [f"{i.title}\n{i.body}" for i in items] + [f"{d.subject}\n{d.body}" for d in mails]
    return Seen(200, "\n".join(texts), {"messages": len(texts)})


@dataclass
class Face:
    read: Callable[[World, object], Seen]
    names_roles: bool = True  # it lists roles (else it shows only the batch, or counts)
    csm: dict = field(default_factory=dict)  # the counts the CSM of A sees
    admin: dict = field(default_factory=dict)  # and an admin


# A: 2 failed, 1 ready, 1 queued, 1 refused; B: 3 failed, 2 ready, 2 queued, 2 refused; and the
# refusal of a role that does not exist (the pusher's: the admin's here).
A_PART = {"total": 4, "failed": 2, "refused": 1}
BOTH = {"total": 11, "failed": 5, "refused": 4}
READ_FACES = {
    "API batch-status": Face(_api_status, csm=A_PART, admin=BOTH),
    "status page": Face(_page("status-batch"), csm={**A_PART, "sla_runs": 4}, admin={**BOTH, "sla_runs": 11}),
    "status live partial": Face(_page("status-batch-live"), csm=A_PART, admin=BOTH),
    "admin batch page": Face(_admin_batch, csm={"total": 4}, admin={"total": 11}),
    "admin batch list": Face(
        _changelist(lambda w: reverse("admin:batches_batch_changelist")), False, {"rows": 1}, {"rows": 1}
    ),
    "admin batch history": Face(
        _get(lambda w: reverse("admin:batches_batch_history", args=[w.batch.pk])), names_roles=False
    ),
    "index panel": Face(_get(lambda w: reverse("status-index")), names_roles=False),
    "company page panel": Face(_get(lambda w: reverse("status-company", args=[w.a.company.pk]))),
    "company CSV export": Face(_get(lambda w: reverse("status-company-csv", args=[w.a.company.pk]))),
    "history API": Face(_history, csm={"rows": 4}, admin={"rows": 4}),
    "admin runs of the batch": Face(
        _changelist(lambda w: reverse("admin:onboarding_run_changelist"), "?batch_key={w.batch.batch_id}"),
        csm={"rows": 4},
        admin={"rows": 11},
    ),
    "admin events": Face(_changelist(lambda w: reverse("admin:operations_event_changelist"))),
    "admin deliveries": Face(
        _changelist(lambda w: reverse("admin:operations_delivery_changelist")), names_roles=False
    ),
    "admin SLA records": Face(
        _changelist(lambda w: reverse("admin:operations_slarecord_changelist")),
        csm={"rows": 4},
        admin={"rows": 11},
    ),
    "batch digest and alerts": Face(_digest, csm={"messages": 2}, admin={"messages": 1}),
    "inbox": Face(_get(lambda w: reverse("operations-inbox"))),
}
# Pages of A itself, or what is the CSM's own: an admin sees no B there either.
ONLY_A_THERE = {"company page panel", "company CSV export", "history API", "inbox"}


@pytest.mark.parametrize("face", READ_FACES)
def test_a_csm_sees_only_their_companys_part_of_the_batch(world, face):
    seen = READ_FACES[face].read(world, world.csm)
    assert seen.status == 200, seen.body[:500]
    assert seen.shows(world.hidden_from_csms()) == [], face
    if READ_FACES[face].names_roles:
        assert any(s in seen.body for s in world.a.secrets()), f"{face} shows nothing of A"
    assert {k: seen.counts.get(k) for k in READ_FACES[face].csm} == READ_FACES[face].csm


@pytest.mark.parametrize("face", READ_FACES)
def test_an_admin_sees_both_companies(world, face):
    seen = READ_FACES[face].read(world, world.admin)
    assert seen.status == 200
    assert {k: seen.counts.get(k) for k in READ_FACES[face].admin} == READ_FACES[face].admin
    if READ_FACES[face].names_roles and face not in ONLY_A_THERE:
        assert any(s in seen.body for s in world.a.secrets()), face
        assert any(s in seen.body for s in world.b.secrets()), face


def test_the_admin_changelists_count_only_the_csms_rows(world):
    """Events and deliveries: as many rows as belong to A (and the CSM's own rule)."""
    events = READ_FACES["admin events"].read(world, world.csm).counts["rows"]
    assert events == Event.objects.filter(company=world.a.company).count() + 1  # + the batch's completion
    deliveries = READ_FACES["admin deliveries"].read(world, world.csm).counts["rows"]
    assert deliveries == Delivery.objects.filter(rule__owner=world.csm).count() == 1
    assert READ_FACES["admin deliveries"].read(world, world.admin).counts["rows"] == Delivery.objects.count()


def test_a_row_of_b_opened_by_the_csm_in_the_admin_does_not_exist_for_them(world):
    b_run = world.b.runs[0]
    rows = {
        "onboarding_role": world.b.failed[0].pk,
        "onboarding_run": b_run.pk,
        "operations_slarecord": SlaRecord.objects.get(run=b_run).pk,
        "operations_event": Event.objects.filter(company=world.b.company).first().pk,
        "operations_delivery": Delivery.objects.get(target=world.admin.email).pk,
    }
    client = session(world.csm)
    for model, pk in rows.items():
        response = client.get(reverse(f"admin:{model}_change", args=[pk]))
        assert (response.status_code, response.url) == (302, "/admin/"), model


def test_the_csms_digest_counts_only_their_company(world):
    seen = _digest(world, world.csm)
    # A: 1 ready; needs you: 1 failed (INVALID_REQUEST) + 1 refused; 1 for an engineer.
    assert seen.body.count("Acme Sealed Inc batch: 1 ready, 2 need you, 1 need an engineer") == 2
    pusher = Delivery.objects.get(event__batch=world.batch, target=world.admin.email)
    assert pusher.subject == "Acme Sealed Inc, Beta Sealed Ltd batch: 3 ready, 7 need you, 2 need an engineer"
    assert world.batch.name in pusher.body


def test_a_pusher_is_told_only_of_the_companies_they_still_see():
    csm = UserFactory(can_push=True, email="ann@example.com")
    kept, left = CompanyFactory(name="Kept Co"), CompanyFactory(name="Left Co")
    kept.csms.add(csm), left.csms.add(csm)
    batch = batch_push(role_ids=[ready_role(company=kept).pk, ready_role(company=left).pk], user=csm)
    singles = {c: ready_role(company=c, name=f"{c.name} single") for c in (kept, left)}
    for role in singles.values():
        role_push(role=role, user=csm, options={"notify_on_complete": True})
    left.csms.remove(csm)  # reassigned while the pushes ran
    Event.objects.create(type="batch.completed", batch=batch, actor=csm)
    for company, role in singles.items():
        Event.objects.create(
            type="role.ready", role=role, company=company, run=role.runs.get(), to_state="READY"
        )
    events_process()
    sent = Delivery.objects.filter(target="ann@example.com")
    assert sorted(d.subject for d in sent) == [
        "Kept Co batch: 0 ready, 0 need you",
        "Kept Co: Kept Co single is ready",
    ]
    assert not [d for d in sent if "Left Co" in d.subject + d.body]


def test_a_csm_cannot_find_a_batch_by_words_of_a_name_they_do_not_see(world):
    search = _changelist(lambda w: reverse("admin:batches_batch_changelist"), "?q=roles+from+the+admin")
    assert search(world, world.csm).counts == {"rows": 0}
    assert search(world, world.admin).counts == {"rows": 1}
    by_id = _changelist(lambda w: reverse("admin:batches_batch_changelist"), "?q={w.batch.batch_id}")
    assert by_id(world, world.csm).counts == {"rows": 1}


def test_stats_and_metrics_are_for_staff_who_see_every_company(world):
    assert _stats(world, world.csm).status == 403
    assert _stats(world, world.admin).counts == {"total": 11}
    assert session(world.csm).get("/metrics").status_code == 401


def test_the_simulators_calls_show_a_csm_given_the_permission_only_their_companys_calls(world):
    url = reverse("admin:onboarding_simulatorcall_changelist")
    assert session(world.csm).get(url).status_code == 403  # not in the CSM group's permissions
    world.csm.user_permissions.add(Permission.objects.get(codename="view_simulatorcall"))
    body = body_of(session(world.csm).get(url))
    assert [s for s in world.hidden_from_csms() if s in body] == []
    assert session(world.csm).get(url).context["cl"].result_count == 4
    assert session(world.admin).get(url).context["cl"].result_count == 11


# --- a CSM of neither company: the batch does not exist for them --------------------------------


NOT_FOUND = {
    "API batch-status": lambda w: token(w.stranger).get(API + f"batch-status/{w.batch.batch_id}"),
    "API retry-failed": lambda w: token(w.stranger).post(API + f"retry-failed/{w.batch.batch_id}"),
    "status page": lambda w: session(w.stranger).get(reverse("status-batch", args=[w.batch.pk])),
    "status live partial": lambda w: session(w.stranger).get(reverse("status-batch-live", args=[w.batch.pk])),
    "status retry button": lambda w: session(w.stranger).post(
        reverse("status-batch-retry", args=[w.batch.pk])
    ),
    "admin retry view": lambda w: session(w.stranger).post(
        reverse("admin:batches_batch_retry_failed", args=[w.batch.pk])
    ),
    "history API of A": lambda w: token(w.stranger).get(API + f"history/{w.a.company.name}"),
    "company page of A": lambda w: session(w.stranger).get(reverse("status-company", args=[w.a.company.pk])),
}


@pytest.mark.parametrize("face", NOT_FOUND)
def test_a_csm_of_neither_company_gets_404(world, face):
    response = NOT_FOUND[face](world)
    seen = Seen(response.status_code, body_of(response), asked=unquote(response.request["PATH_INFO"]))
    assert seen.status == 404
    assert seen.shows(world.a.secrets() + world.hidden_from_csms()) == []


@pytest.mark.parametrize("page", ["change", "history"])
def test_for_a_csm_of_neither_company_the_admin_answers_as_for_a_batch_that_does_not_exist(world, page):
    client = session(world.stranger)
    theirs = client.get(reverse(f"admin:batches_batch_{page}", args=[world.batch.pk]))
    nothing = client.get(reverse(f"admin:batches_batch_{page}", args=[world.batch.pk + 1000]))
    assert (theirs.status_code, theirs.url) == (nothing.status_code, nothing.url) == (302, "/admin/")


@pytest.mark.parametrize("face", [f for f in READ_FACES if f not in ONLY_A_THERE - {"inbox"}])
def test_a_csm_of_neither_company_sees_nothing_of_the_batch_anywhere(world, face):
    seen = READ_FACES[face].read(world, world.stranger)
    if seen.status == 200:
        everything = [*world.a.secrets(), *world.hidden_from_csms(), world.batch.batch_id]
        assert seen.shows(everything) == [], face
        assert all(not n for n in seen.counts.values()), seen.counts
    else:  # the admin answers as for a batch that does not exist (the test above)
        assert seen.status == (302 if face in ("admin batch page", "admin batch history") else 404)


# --- acting: retry the failed roles ---------------------------------------------------------------


def _changelist_action(w: World, user):
    return session(user).post(
        reverse("admin:batches_batch_changelist"),
        {"action": "retry_failed", "_selected_action": [w.batch.pk]},
    )


RETRY_FACES = {
    "API retry-failed": lambda w, user: token(user).post(API + f"retry-failed/{w.batch.batch_id}"),
    "status page button": lambda w, user: session(user).post(
        reverse("status-batch-retry", args=[w.batch.pk])
    ),
    "admin batch action": _changelist_action,
    "admin batch retry view": lambda w, user: session(user).post(
        reverse("admin:batches_batch_retry_failed", args=[w.batch.pk])
    ),
}


def _snapshot(part: Part) -> dict:
    return {r.pk: (r.status, r.version) for r in part.runs}


def _requeued(part: Part) -> bool:
    return all(Role.objects.get(pk=r.pk).state == RoleState.QUEUED for r in part.failed)


@pytest.mark.parametrize("face", RETRY_FACES)
def test_a_csms_retry_requeues_only_their_companys_failed_roles(world, face):
    before = _snapshot(world.b)
    response = RETRY_FACES[face](world, world.csm)
    assert response.status_code in (200, 302)
    if face == "API retry-failed":
        assert response.json()["retried"] == 2
    assert _requeued(world.a)
    assert _snapshot(world.b) == before  # B's runs: same status, same version
    assert all(Role.objects.get(pk=r.pk).state == RoleState.FAILED for r in world.b.failed)
    assert [s for s in world.hidden_from_csms() if s in body_of(response)] == []


@pytest.mark.parametrize("face", RETRY_FACES)
def test_an_admins_retry_requeues_both_companies(world, face):
    RETRY_FACES[face](world, world.admin)
    assert _requeued(world.a) and _requeued(world.b)


@pytest.mark.parametrize("face", RETRY_FACES)
def test_a_retry_by_a_csm_of_neither_company_changes_nothing(world, face):
    before = {**_snapshot(world.a), **_snapshot(world.b)}
    response = RETRY_FACES[face](world, world.stranger)
    assert response.status_code in (302, 404)  # the admin action: "items must be selected"
    assert {**_snapshot(world.a), **_snapshot(world.b)} == before


# --- and it costs the same for 10 roles or 2,500 -------------------------------------------------


def test_the_faces_cost_the_same_queries_for_a_mixed_batch_of_10_or_2500_roles(
    admin_user, count_queries, settings
):
    # the batch faces remember a user's companies this long: a slow 2,500-role setup must not
    # let that expire for one measure and not the other
    settings.API_AUTH_CACHE_SECONDS = 600
    settings.BATCH_STATUS_FRESH_SECONDS = 600  # nor a batch's looked-up row and answers (a hit is measured)
    a, b = CompanyFactory(name="Acme Sealed Inc"), CompanyFactory(name="Beta Sealed Ltd")
    csm = _in_group(UserFactory(can_push=True, email="csm-a@example.com"))
    a.csms.add(csm)
    RuleFactory(owner=csm, event_type="batch.completed", addresses="csm-a@example.com")
    RuleFactory(event_type="batch.completed", action="inbox", recipients="csms")
    client, api = session(csm), token(csm)

    def measure(per_company: int) -> list[int]:
        roles = Role.objects.bulk_create(
            [Role(company=c, name=f"{c.name} {per_company}-{i}", draup_role_name="Analyst")
             for c in (a, b) for i in range(per_company)]
        )  # fmt: skip
        RoleDocument.objects.bulk_create(
            [RoleDocument(role=r, content=f"# {r.name}\n", format="text") for r in roles]
        )
        batch = batch_push(role_ids=[r.pk for r in roles], user=admin_user)
        half = batch.runs.filter(pk__in=batch.runs.values("pk")[:per_company])
        Run.objects.filter(pk__in=half).update(status=RunStatus.FAILED, error={"error": "X", "message": "x"})
        Event.objects.update(processed_at=timezone.now())  # only the completion below to handle
        Event.objects.create(type="batch.completed", batch=batch, actor=admin_user)
        api.get(API + "companies")  # the token's cached lookup may have expired meanwhile
        client.get(reverse("status-batch-live", args=[batch.pk]))  # and the session's and its user's
        return [
            count_queries(lambda: api.get(API + f"batch-status/{batch.batch_id}")),
            count_queries(lambda: client.get(reverse("status-batch", args=[batch.pk]))),
            count_queries(lambda: client.get(reverse("status-batch-live", args=[batch.pk]))),
            count_queries(lambda: client.get(reverse("admin:batches_batch_change", args=[batch.pk]))),
            count_queries(lambda: client.get(reverse("admin:operations_event_changelist"))),
            count_queries(lambda: client.get(reverse("admin:operations_slarecord_changelist"))),
            count_queries(events_process),
        ]

    measure(2)
    assert measure(5) == measure(1250)
