"""The admin a CSM works in: pages render, buttons and actions work, bad clicks get a message."""

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django_fsm_log.models import StateLog

from onboarding.models import DocumentType, Role, RoleState
from tests.factories import CompanyFactory, RoleFactory, UserFactory, force_state, ready_role
from tests.helpers import csm_group

pytestmark = pytest.mark.django_db
CHANGELIST = reverse("admin:onboarding_role_changelist")


def change_url(role):
    return reverse("admin:onboarding_role_change", args=[role.pk])


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def test_the_role_list_renders_with_state_and_filters(admin_client):
    ready_role(name="Claims Adjuster")
    response = admin_client.get(CHANGELIST)
    assert response.status_code == 200
    assert b"Claims Adjuster" in response.content and b"etter-state" in response.content
    assert admin_client.get(CHANGELIST, {"state__exact": "DRAFT", "q": "Claims"}).status_code == 200


def warm(client):
    """A request first, so that the session and its user are remembered (etter_site/auth.py) in
    both of two counts, however long the rows between them took to make."""
    client.get(reverse("admin:index"))
    return client


def test_the_role_list_costs_the_same_queries_for_10_or_200_roles(admin_client, count_queries):
    company = CompanyFactory()
    RoleFactory.create_batch(10, company=company)
    warm(admin_client)
    few = count_queries(lambda: admin_client.get(CHANGELIST))
    RoleFactory.create_batch(190, company=company)
    warm(admin_client)
    many = count_queries(lambda: admin_client.get(CHANGELIST))
    assert many == few


def test_the_role_page_shows_documents_history_and_the_allowed_buttons(admin_client):
    role = ready_role()
    response = admin_client.get(change_url(role))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Push to Etter" in body  # the DRAFT role's allowed transition, as a button
    assert "Mark stale" not in body and "finish_ready" not in body  # not allowed / system only
    assert "documents-TOTAL_FORMS" in body and "Runs" in body


def _post_button(client, role, transition, **extra):
    data = {
        "company": role.company.pk,
        "name": role.name,
        "draup_role_id": role.draup_role_id,
        "draup_role_name": role.draup_role_name,
        "occupation": "",
        "job_family": "",
        "_fsm_transition_to": transition,
        **_empty_inlines(role),
        **extra,
    }
    return client.post(change_url(role), data, follow=True)


def _empty_inlines(role):
    docs = list(role.documents.all())
    data = {
        "documents-TOTAL_FORMS": str(len(docs)),
        "documents-INITIAL_FORMS": str(len(docs)),
        "documents-MIN_NUM_FORMS": "0",
        "documents-MAX_NUM_FORMS": "1000",
    }
    for i, doc in enumerate(docs):
        data.update(
            {
                f"documents-{i}-id": doc.pk,
                f"documents-{i}-role": role.pk,
                f"documents-{i}-doc_type": doc.doc_type,
                f"documents-{i}-name": doc.name,
                f"documents-{i}-content": doc.content,
                f"documents-{i}-uri": doc.uri,
            }
        )
    for prefix in ("runs", "django_fsm_log-statelog-content_type-object_id"):
        data.update(
            {
                f"{prefix}-TOTAL_FORMS": "0",
                f"{prefix}-INITIAL_FORMS": "0",
                f"{prefix}-MIN_NUM_FORMS": "0",
                f"{prefix}-MAX_NUM_FORMS": "0",
            }
        )
    return data


def test_a_transition_button_works_and_is_logged_with_the_user(admin_client, admin_user):
    role = force_state(ready_role(), RoleState.VALIDATION_ERROR)
    response = _post_button(admin_client, role, "reopen")
    assert response.status_code == 200
    assert Role.objects.get(pk=role.pk).state == RoleState.DRAFT
    assert StateLog.objects.for_(role).get().by == admin_user


def test_the_push_button_queues_the_role_through_the_service(admin_client):
    role = ready_role()
    response = _post_button(admin_client, role, "enqueue")
    role = Role.objects.get(pk=role.pk)
    assert role.state == RoleState.QUEUED and role.last_run is not None
    assert any(role.last_run.workflow_id in m for m in messages_of(response))


def test_a_refused_button_shows_a_message_not_an_error(admin_client):
    role = ready_role()  # DRAFT: "Mark stale" is not allowed
    response = _post_button(admin_client, role, "mark_stale")
    assert response.status_code == 200
    assert any("not allowed" in m for m in messages_of(response))
    assert Role.objects.get(pk=role.pk).state == RoleState.DRAFT


def test_a_push_button_on_a_role_without_jd_says_what_to_fix(admin_client):
    role = RoleFactory()
    response = _post_button(admin_client, role, "enqueue")
    assert any("Add a job description" in m for m in messages_of(response))
    assert Role.objects.get(pk=role.pk).state == RoleState.VALIDATION_ERROR


def test_a_jd_can_be_uploaded_on_the_role_page(admin_client):
    role = RoleFactory()
    data = {
        "company": role.company.pk,
        "name": role.name,
        "draup_role_id": role.draup_role_id,
        "draup_role_name": role.draup_role_name,
        "occupation": "",
        "job_family": "",
        **_empty_inlines(role),
    }
    data.update(
        {
            "documents-TOTAL_FORMS": "1",
            "documents-0-doc_type": DocumentType.JOB_DESCRIPTION,
            "documents-0-content": "# The JD",
        }
    )
    response = admin_client.post(change_url(role), data)
    assert response.status_code == 302
    assert role.documents.get().content == "# The JD"


def test_a_document_with_no_source_is_refused_on_the_role_page(admin_client):
    role = RoleFactory()
    data = {
        "company": role.company.pk,
        "name": role.name,
        "draup_role_id": "",
        "draup_role_name": "",
        "occupation": "",
        "job_family": "",
        **_empty_inlines(role),
    }
    data.update(
        {
            "documents-TOTAL_FORMS": "1",
            "documents-0-doc_type": DocumentType.JOB_DESCRIPTION,
            "documents-0-name": "empty",
        }
    )
    response = admin_client.post(change_url(role), data)
    assert response.status_code == 200
    assert "uploaded file, inline text or a URI" in response.content.decode()
    assert not role.documents.exists()


def test_changing_the_jd_of_a_ready_role_makes_it_stale(admin_client):
    role = force_state(ready_role(), RoleState.READY)
    data = {
        "company": role.company.pk,
        "name": role.name,
        "draup_role_id": role.draup_role_id,
        "draup_role_name": role.draup_role_name,
        "occupation": "",
        "job_family": "",
        **_empty_inlines(role),
    }
    data["documents-0-content"] = "# A better JD"
    assert admin_client.post(change_url(role), data).status_code == 302
    assert Role.objects.get(pk=role.pk).state == RoleState.STALE


def test_the_push_action_queues_the_good_roles_and_explains_the_rest(admin_client, count_queries):
    good = [ready_role() for _ in range(3)]
    no_jd = RoleFactory()
    response = admin_client.post(
        CHANGELIST,
        {"action": "push_to_etter", "_selected_action": [r.pk for r in good + [no_jd]]},
        follow=True,
    )
    text = " ".join(messages_of(response))
    assert "Pushed 3 roles" in text and "Refused 1: Add a job description" in text
    assert Role.objects.filter(state=RoleState.QUEUED).count() == 3
    assert Role.objects.get(pk=no_jd.pk).state == RoleState.VALIDATION_ERROR


def test_the_push_action_costs_the_same_queries_for_10_or_100_roles(admin_client, count_queries):
    def push(n):
        roles = [ready_role() for _ in range(n)]
        warm(admin_client)
        return count_queries(
            lambda: admin_client.post(
                CHANGELIST, {"action": "push_to_etter", "_selected_action": [r.pk for r in roles]}
            )
        )

    assert push(10) == push(100)


def test_an_empty_selection_is_refused_by_the_admin(admin_client):
    ready_role()
    response = admin_client.post(CHANGELIST, {"action": "push_to_etter", "index": "0"}, follow=True)
    assert any("Items must be selected" in m for m in messages_of(response))
    assert not Role.objects.exclude(state=RoleState.DRAFT).exists()


def test_retry_and_cancel_actions_report_counts(admin_client):
    failed = force_state(ready_role(), RoleState.FAILED)
    draft = ready_role()
    response = admin_client.post(
        CHANGELIST, {"action": "retry_failed", "_selected_action": [failed.pk, draft.pk]}, follow=True
    )
    text = " ".join(messages_of(response))
    assert "Retried 1 roles" in text and "Skipped 1 roles that had not failed" in text
    response = admin_client.post(
        CHANGELIST, {"action": "cancel_push", "_selected_action": [failed.pk, draft.pk]}, follow=True
    )
    assert "Cancelled 1 pushes" in " ".join(messages_of(response))
    assert Role.objects.get(pk=failed.pk).state_reason == "cancelled"


def test_a_csm_sees_only_the_companies_assigned_to_them(client):
    csm = UserFactory(can_push=True)
    csm.user_permissions.add(*Permission.objects.filter(codename__in=["view_role", "change_role"]))
    mine, theirs = CompanyFactory(name="Acme Corporation"), CompanyFactory(name="Walmart Inc.")
    mine.csms.add(csm)
    RoleFactory(company=mine, name="Mine")
    other = RoleFactory(company=theirs, name="Theirs")
    client.force_login(csm)
    body = client.get(CHANGELIST).content.decode()
    assert "Mine" in body and "Theirs" not in body
    assert client.get(change_url(other)).status_code == 302  # "doesn't exist": back to the list


def test_a_user_without_push_permission_gets_no_push_action(client):
    viewer = UserFactory()
    viewer.user_permissions.add(Permission.objects.get(codename="view_role"))
    client.force_login(viewer)
    assert "push_to_etter" not in client.get(CHANGELIST).content.decode()


def test_the_run_page_is_read_only(admin_client):
    from onboarding import services

    run = services.role_push(role=ready_role())
    url = reverse("admin:onboarding_run_change", args=[run.pk])
    response = admin_client.get(url)
    assert response.status_code == 200 and run.workflow_id in response.content.decode()
    assert "role_setup" in response.content.decode()


def test_a_user_in_the_csm_group_can_push_from_the_admin(client):
    csm = UserFactory()
    csm.groups.add(csm_group())
    company = CompanyFactory()
    company.csms.add(csm)
    role = ready_role(company=company)
    client.force_login(csm)
    response = client.post(
        CHANGELIST, {"action": "push_to_etter", "_selected_action": [role.pk]}, follow=True
    )
    assert "Pushed 1 roles" in " ".join(messages_of(response))
    assert client.get(change_url(role)).status_code == 200


def test_an_oversized_jd_upload_is_refused_on_the_role_page(admin_client, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.JD_MAX_UPLOAD_BYTES = 1_048_576
    role = RoleFactory()
    data = {
        "company": role.company.pk,
        "name": role.name,
        "draup_role_id": role.draup_role_id,
        "draup_role_name": role.draup_role_name,
        "occupation": "",
        "job_family": "",
        **_empty_inlines(role),
    }
    data.update(
        {
            "documents-TOTAL_FORMS": "1",
            "documents-0-doc_type": DocumentType.JOB_DESCRIPTION,
            "documents-0-file": SimpleUploadedFile("huge.pdf", b"%PDF" + b"x" * 2_100_000),
        }
    )
    response = admin_client.post(change_url(role), data)
    assert response.status_code == 200 and "at most 1 MB is accepted" in response.content.decode()
    assert not role.documents.exists()
