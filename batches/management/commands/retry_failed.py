from django.core.management.base import BaseCommand, CommandError

from batches.models import Batch
from onboarding import cli, services
from onboarding.models import Company, Role, RoleState


class Command(BaseCommand):
    help = (
        "Re-queue failed and degraded roles (all of them, or of a company, a batch, or since a "
        "moment); each resumes at the step that failed. --dry-run lists the roles it would retry."
    )

    def add_arguments(self, parser):
        parser.add_argument("--company", help="only this company (exact name)")
        parser.add_argument("--since", type=cli.since, help=cli.SINCE_HELP)
        parser.add_argument("--batch", help="only the failed roles of this batch (batch-...)")
        parser.add_argument(
            "--dry-run", action="store_true", help="list the roles it would retry, change nothing"
        )

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
        if dry_run:
            listed = roles.select_related("company", "last_run").order_by("company__name", "name")
            for role in listed:
                error = (role.last_run.error or {}) if role.last_run else {}
                why = error.get("message") or role.state_reason
                self.stdout.write(f"  {role.company.name} / {role.name} ({role.get_state_display()}): {why}")
            self.stdout.write(f"Would retry {len(listed)} roles (dry run: nothing changed).")
            return
        ids = list(roles.values_list("pk", flat=True))
        report = services.roles_push(
            role_ids=ids,
            reason="Retry (retry_failed command)",
            batch_key=batch_obj.batch_id if batch_obj else "",
        )
        self.stdout.write(f"Retried {len(report.runs)} roles; refused {len(report.refused)}.")
        for reason, count in report.refusal_summary().items():
            self.stdout.write(f"  refused {count}: {reason}")
