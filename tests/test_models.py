"""Bad input on the models: refused with a message that says what to fix, nothing changed."""

import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from onboarding.jd import pick_job_description
from onboarding.models import DocumentType, Role, RoleDocument
from tests.factories import CompanyFactory, RoleFactory

pytestmark = pytest.mark.django_db


def test_a_duplicate_role_name_in_a_company_is_refused():
    role = RoleFactory(name="Claims Adjuster")
    duplicate = Role(company=role.company, name="Claims Adjuster")
    with pytest.raises(ValidationError, match="already exists"):
        duplicate.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()
    assert Role.objects.filter(name="Claims Adjuster").count() == 1


def test_the_same_role_name_in_another_company_is_fine():
    RoleFactory(name="Analyst")
    RoleFactory(name="Analyst", company=CompanyFactory())
    assert Role.objects.filter(name="Analyst").count() == 2


@pytest.mark.parametrize("name", ["", "   "])
def test_an_empty_role_name_is_refused(name):
    role = Role(company=CompanyFactory(), name=name)
    with pytest.raises(ValidationError):
        role.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        role.save()
    assert not Role.objects.exists()


def test_a_document_with_no_file_text_or_uri_is_refused():
    role = RoleFactory()
    doc = RoleDocument(role=role, doc_type=DocumentType.JOB_DESCRIPTION)
    with pytest.raises(ValidationError, match="uploaded file, inline text or a URI"):
        doc.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        doc.save()
    assert not role.documents.exists()


def test_a_document_with_two_sources_is_refused():
    doc = RoleDocument(role=RoleFactory(), content="text", uri="https://example.com/jd.pdf")
    with pytest.raises(ValidationError, match="one source only"):
        doc.full_clean()


def test_the_format_is_detected_and_a_name_given():
    role = RoleFactory()
    pdf = RoleDocument.objects.create(role=role, file=ContentFile(b"%PDF-1.4", name="jd.PDF"))
    docx = RoleDocument.objects.create(role=role, uri="https://files.example.com/a/jd.docx?sig=1")
    text = RoleDocument.objects.create(role=role, content="# JD")
    assert (pdf.format, docx.format, text.format) == ("pdf", "docx", "text")
    assert docx.name == "jd.docx"


def test_the_pdf_wins_over_docx_images_and_text_and_newest_wins_among_equals():
    role = RoleFactory()
    RoleDocument.objects.create(role=role, content="# inline")
    RoleDocument.objects.create(role=role, uri="https://x.example.com/jd.png")
    RoleDocument.objects.create(role=role, uri="https://x.example.com/jd.docx")
    RoleDocument.objects.create(role=role, uri="https://x.example.com/old.pdf")
    newest_pdf = RoleDocument.objects.create(role=role, uri="https://x.example.com/new.pdf")
    RoleDocument.objects.create(role=role, doc_type=DocumentType.SOP, uri="https://x.example.com/sop.pdf")
    assert pick_job_description(role.documents.all()) == newest_pdf


def test_a_file_over_the_upload_limit_is_refused_with_its_size(settings):
    settings.JD_MAX_UPLOAD_BYTES = 1_048_576
    role = RoleFactory()
    doc = RoleDocument(role=role, file=ContentFile(b"%PDF" + b"x" * 2_100_000, name="huge.pdf"))
    with pytest.raises(ValidationError, match="The file is 2.0 MB; at most 1 MB"):
        doc.full_clean()
    assert not role.documents.exists()


def test_a_role_changed_elsewhere_since_it_was_loaded_is_not_overwritten():
    """django-fsm's concurrency check (our Role names its one state field for it)."""
    from django_fsm import ConcurrentTransition

    role = RoleFactory()
    stale = Role.objects.get(pk=role.pk)
    role.apply("reject", reason="No JD")
    role.save()
    stale.apply("reject", reason="No JD, said twice")
    with pytest.raises(ConcurrentTransition), transaction.atomic():
        stale.save()
    assert Role.objects.get(pk=role.pk).state_reason == "No JD"
