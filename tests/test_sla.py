"""SLA: every run gets a record (push -> READY against a target); a breach is found while the
run is still in flight, announced once, and shown on the role, batch and company pages."""

import pytest
from django.contrib.auth.models import Permission

from batches.services import batch_push
from onboarding import services
from onboarding.draup_world import RUN_AI_ASSESSMENT
from onboarding.models import RoleState, RunStatus
from operations.models import Event, InboxItem, SlaConfig, SlaRecord
from operations.services import events_process, sla_check
from tests.factories import CompanyFactory, UserFactory, ready_role
from tests.helpers import start_thread, wait_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("alert_defaults")]


def test_every_run_gets_a_record_with_its_companys_target(simulator, work):
    acme = CompanyFactory(name="Acme")
    SlaConfig.objects.create(company=acme, target_minutes=30)
    run = services.role_push(role=ready_role(company=acme))
    other = services.role_push(role=ready_role())
    assert SlaRecord.objects.get(run=run).target_seconds == 1800
    assert SlaRecord.objects.get(run=other).target_seconds == 900  # the default: 15 minutes
    work()
    events_process()
    record = SlaRecord.objects.get(run=run)
    assert record.completed_at and record.outcome == RoleState.READY and not record.breached
    assert record.actual_seconds >= record.queue_wait_seconds >= 0


def test_a_breach_shows_before_a_slow_run_ends(simulator, work, settings, client):
    settings.SIMULATOR = {**settings.SIMULATOR, "LATENCY": {RUN_AI_ASSESSMENT: 3.0}}
    csm = UserFactory(can_push=True)
    role = ready_role(company__name="Acme")
    role.company.csms.add(csm)
    SlaConfig.objects.create(company=role.company, target_minutes=0.01)  # 0.6 s
    batch = batch_push(role_ids=[role.pk], user=csm)
    run = batch.runs.get()
    worker = start_thread(work)
    wait_until(lambda: SlaRecord.objects.get(run=run).due_at < _now())
    assert sla_check() == 1
    assert sla_check() == 0  # found once
    run.refresh_from_db()
    assert run.status in (RunStatus.QUEUED, RunStatus.PROCESSING)  # not ended yet
    record = SlaRecord.objects.get(run=run)
    assert record.breached and record.completed_at is None
    breach = Event.objects.get(type="sla.breached")
    assert breach.run_id == run.pk and breach.correlation_id == run.trace_id
    events_process()
    assert InboxItem.objects.filter(user=csm, event=breach).exists()
    client.force_login(csm)
    assert b"still not done" in client.get(f"/status/roles/{role.pk}/").content
    worker.join()
    events_process()
    record.refresh_from_db()
    assert record.completed_at and record.actual_seconds > 0.6 and record.breached
    assert Event.objects.filter(type="sla.breached").count() == 1
    assert b"1 of 1 runs of this batch missed" in client.get(f"/status/batches/{batch.pk}/").content
    assert (
        b"1 of 1 runs of this company missed" in client.get(f"/status/companies/{role.company_id}/").content
    )


def test_a_run_that_ends_late_is_breached_at_its_end(simulator, work):
    SlaConfig.objects.filter(company=None).update(target_minutes=0.0001)
    run = services.role_push(role=ready_role())
    work()
    events_process()
    record = SlaRecord.objects.get(run=run)
    assert record.breached and record.outcome == RoleState.READY
    assert Event.objects.filter(type="sla.breached", run=run).count() == 1


def test_sla_configs_are_for_staff_with_the_permission_and_records_filter_by_breach(admin_client, client):
    csm = UserFactory()
    csm.user_permissions.add(Permission.objects.get(codename="view_slarecord"))
    client.force_login(csm)
    assert client.get("/admin/operations/slaconfig/").status_code == 403
    assert client.get("/admin/operations/slarecord/").status_code == 200
    assert admin_client.get("/admin/operations/slaconfig/").status_code == 200
    assert admin_client.get("/admin/operations/slarecord/?breached__exact=1").status_code == 200


def _now():
    from django.utils import timezone

    return timezone.now()


def test_every_operations_admin_page_renders(admin_client, simulator, work):
    services.role_push(role=ready_role())
    work()
    events_process()
    for model in ["rule", "event", "delivery", "slaconfig", "slarecord", "inboxitem"]:
        assert admin_client.get(f"/admin/operations/{model}/").status_code == 200, model
    assert b"Every event has been handled" in admin_client.get("/admin/operations/event/").content
    assert admin_client.get("/admin/operations/rule/add/").status_code == 200
    record = SlaRecord.objects.get()
    assert admin_client.get(f"/admin/operations/slarecord/{record.pk}/change/").status_code == 200
