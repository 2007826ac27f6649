from django.core.management.base import BaseCommand
from django.db import transaction

from onboarding.demo.data import DEMO_ROLES
from onboarding.models import Company, DocumentType, Role, RoleDocument


class Command(BaseCommand):
    help = "Load the demo companies, roles and job descriptions. Running it again changes nothing."

    @transaction.atomic
    def handle(self, *args, **options):
        created = 0
        for demo in DEMO_ROLES:
            company, _ = Company.objects.get_or_create(name=demo.company)
            role, new = Role.objects.get_or_create(
                company=company,
                name=demo.name,
                defaults={
                    "draup_role_id": demo.draup_role_id,
                    "draup_role_name": demo.draup_role_name,
                    "occupation": demo.occupation,
                    "job_family": demo.job_family,
                },
            )
            created += new
            RoleDocument.objects.get_or_create(
                role=role,
                doc_type=DocumentType.JOB_DESCRIPTION,
                name=f"{demo.name} JD.md",
                defaults={"content": demo.jd},
            )
        self.stdout.write(f"Demo data: {len(DEMO_ROLES)} roles in 3 companies ({created} new).")
