from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from batches.models import Batch
from onboarding import services
from onboarding.models import Company, Role, RoleState


def _date(value: str) -> datetime:
    try:
        return timezone.make_aware(datetime.combine(datetime.fromisoformat(value).date(), time.min))
    except ValueError:
        raise CommandError(f"--since takes a date like 2026-01-31, not {value!r}.") from None


class Command(BaseCommand):
    help = "Re-queue failed and degraded roles; each resumes at the step that failed."

    def add_arguments(self, parser):
        parser.add_argument("--company", help="only this company (exact name)")
        parser.add_argument("--since", type=_date, help="only runs that ended on or after this date")
        parser.add_argument("--batch", help="only the failed roles of this batch (batch-...)")
        parser.add_argument("--dry-run", action="store_true", help="count, change nothing")

    def handle(self, *args, company=None, since=None, batch=None, dry_run=False, **options):
        roles = Role.objects.filter(state__in=[RoleState.FAILED, RoleState.DEGRADED])
        batch_obj = None
        if batch:
            batch_obj = Batch.objects.filter(batch_id=batch).first()
            if batch_obj is None:
                raise CommandError(f"No batch {batch!r}.")
            roles = roles.filter(last_run__batch_key=batch_obj.batch_id)
        if company:
            if not Company.objects.filter(name=company).exists():
                raise CommandError(f"No company named {company!r}.")
            roles = roles.filter(company__name=company)
        if since:
            roles = roles.filter(last_run__finished_at__gte=since)
        ids = list(roles.values_list("pk", flat=True))
        if dry_run:
            self.stdout.write(f"Would retry {len(ids)} roles (dry run: nothing changed).")
            return
        report = services.roles_push(
            role_ids=ids,
            reason="Retry (retry_failed command)",
            batch_key=batch_obj.batch_id if batch_obj else "",
        )
        self.stdout.write(f"Retried {len(report.runs)} roles; refused {len(report.refused)}.")
        for reason, count in report.refusal_summary().items():
            self.stdout.write(f"  refused {count}: {reason}")
