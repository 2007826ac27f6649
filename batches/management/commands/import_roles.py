from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from batches.csv_import import REFUSED, CsvRefused, import_roles
from onboarding.intake import OnExisting
from onboarding.models import Priority


class Command(BaseCommand):
    help = (
        "Import roles from a CSV (company,role_name,draup_role,occupation,job_family,jd[,on_existing]). "
        "--dry-run reports what would happen, row by row, and changes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("csv", type=Path)
        parser.add_argument("--zip", type=Path, help="a zip of the JD files the jd column names")
        parser.add_argument("--push", action="store_true", help="push the imported roles as a batch")
        parser.add_argument(
            "--urgent", action="store_true", help="with --push: ahead of normal pushes of the last 30 minutes"
        )
        parser.add_argument("--dry-run", action="store_true", help="check every row, change nothing")
        parser.add_argument(
            "--skip-enhancements",
            action="store_true",
            help="push the assessment only (skip_enhancement_workflows); run the enhancements later",
        )
        parser.add_argument(
            "--on-existing",
            choices=OnExisting.values,
            default=OnExisting.UPDATE,
            help="a role that exists (matched ignoring case and extra spaces): skip it, update it "
            "(re-assessed only if its inputs changed), or reassess it; a row's on_existing column wins",
        )

    def handle(
        self,
        *args,
        csv,
        zip=None,
        push=False,
        dry_run=False,
        on_existing="update",
        skip_enhancements=False,
        urgent=False,
        **options,
    ):
        try:
            report = import_roles(
                csv_bytes=_read(csv),
                zip_bytes=_read(zip) if zip else None,
                dry_run=dry_run,
                push=push,
                name=f"CSV {csv.name}",
                on_existing=on_existing,
                options={
                    "skip_enhancement_workflows": skip_enhancements,
                    "priority": Priority.URGENT if urgent else Priority.NORMAL,
                },
            )
        except CsvRefused as err:
            raise CommandError(err.message) from None
        for row in report.rows:
            note = f"  {row.message}" if row.message else ""
            self.stdout.write(f"line {row.line:>5}  {row.action:<9} {row.company} / {row.role_name}{note}")
        counts = ", ".join(f"{n} {action}" for action, n in report.counts.items())
        self.stdout.write(("Dry run, nothing changed: " if dry_run else "Imported: ") + counts)
        if report.batch is not None:
            self.stdout.write(f"Pushed as {report.batch.batch_id}")
        if report.counts[REFUSED] and not dry_run:
            self.stdout.write("Refused rows were not imported; fix them and import the file again.")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise CommandError(f"Cannot read {path}: {err.strerror}.") from None
