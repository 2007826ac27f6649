import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from onboarding.models import Company, DocumentType, Role, RoleDocument


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"csm{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw-for-tests")

    @factory.post_generation
    def can_push(self, create, extracted, **kwargs):
        if extracted:
            self.user_permissions.add(Permission.objects.get(codename="push_role"))
        if create:
            self.save()


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Company {n}")


class RoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Role

    company = factory.SubFactory(CompanyFactory)
    name = factory.Sequence(lambda n: f"Role {n}")
    draup_role_id = factory.Sequence(lambda n: f"DR-{n}")
    draup_role_name = "Insurance Claims Specialist"


class JobDescriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RoleDocument

    role = factory.SubFactory(RoleFactory)
    doc_type = DocumentType.JOB_DESCRIPTION
    content = factory.LazyAttribute(lambda d: f"# {d.role.name}\n\n## Overview\nDoes the work.\n")


def ready_role(**kwargs) -> Role:
    """A role that passes validation: mapped, with an inline JD."""
    role = RoleFactory(**kwargs)
    JobDescriptionFactory(role=role)
    return role


def force_state(role: Role, state: str) -> Role:
    """Put a role in a state for a test; the lifecycle itself never allows this."""
    Role.objects.filter(pk=role.pk).update(state=state)
    role.refresh_from_db()
    return role


class RuleFactory(factory.django.DjangoModelFactory):
    """An alert rule (operations); by default an email to given addresses on READY."""

    class Meta:
        model = "operations.Rule"

    name = factory.Sequence(lambda n: f"Rule {n}")
    event_type = "role.ready"
    action = "email"
    recipients = "addresses"
    addresses = "ops@example.com"
