import json

from django.core.management.base import BaseCommand, CommandError
from django.core.serializers.json import DjangoJSONEncoder

from batches.models import Batch
from onboarding.models import Company, Role, Run
from onboarding.selectors import pipeline_summary


class Command(BaseCommand):
    help = (
        "Print where the pipeline stands: roles by state, runs in flight, failures grouped by "
        "reason (and who must act), and the estimated time until the work in flight is done. "
        "For everything, one company (--company) or one batch (--batch); --json for scripts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--company", help="only this company (its exact name)")
        parser.add_argument("--batch", help="only this batch (batch-...)")
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")

    def handle(self, *args, company=None, batch=None, json=False, **options):
        runs, roles, scope = Run.objects.all(), Role.objects.all(), "all companies"
        if company:
            found = Company.objects.filter(name=company).first()
            if found is None:
                raise CommandError(f"No company named {company!r}.")
            runs, roles, scope = runs.filter(role__company=found), roles.filter(company=found), found.name
        if batch:
            found_batch = Batch.objects.filter(batch_id=batch).first()
            if found_batch is None:
                raise CommandError(f"No batch {batch!r}.")
            runs = runs.filter(batch_key=found_batch.batch_id)
            roles = roles.filter(pk__in=runs.values("role_id"))
            scope = f"{found_batch} ({found_batch.batch_id})" + (f", {scope}" if company else "")
        summary = {"scope": scope, **pipeline_summary(runs, roles)}
        if json:
            self.stdout.write(_json(summary))
        else:
            self.stdout.write(_text(summary))


def _json(summary: dict) -> str:
    return json.dumps(summary, cls=DjangoJSONEncoder, indent=2)


def _text(s: dict) -> str:
    roles, runs = s["roles"], s["runs"]
    lines = [
        f"Pipeline status: {s['scope']}",
        f"Roles: {roles['total']} total · {roles['ready']} ready · {roles['in_flight']} in flight · "
        f"{roles['needs_you']} need you · {roles['stale']} stale · {roles['never_pushed']} never pushed",
        f"Runs in flight: {runs['in_flight']} ({runs['queued']} queued, {runs['processing']} processing, "
        f"{runs['waiting_retry']} waiting for a retry)",
    ]
    if s["failures"]:
        lines.append("Failures by reason:")
        for f in s["failures"]:
            lines.append(f"  {f['count']:>6}  {f['reason']} [{f['code']}, {f['who']}]: {f['fix']}")
    else:
        lines.append("Failures: none")
    eta = s["eta_seconds"]
    if not runs["in_flight"]:
        lines.append("ETA: nothing in flight")
    elif eta is None:
        lines.append("ETA: unknown yet (nothing finished in the last 10 minutes)")
    else:
        lines.append(f"ETA: about {_duration(eta)} (from the completion rate of the last 10 minutes)")
    return "\n".join(lines)


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 1:
        return f"{round(seconds)} s"
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
