import json

from django.core.management.base import BaseCommand

from onboarding.models import SimulatorCall


class Command(BaseCommand):
    help = "Print the calls the built-in draup-world simulator recorded."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="one JSON object per line")
        parser.add_argument("--clear", action="store_true", help="delete the recorded calls")

    def handle(self, *args, **options):
        if options["clear"]:
            deleted, _ = SimulatorCall.objects.all().delete()
            self.stdout.write(f"Cleared {deleted} recorded calls.")
            return
        calls = SimulatorCall.objects.order_by("id").values(
            "created_at", "endpoint", "idempotency_key", "status_code", "replayed", "duration_ms", "response"
        )
        for call in calls.iterator():
            if options["json"]:
                self.stdout.write(json.dumps({**call, "created_at": call["created_at"].isoformat()}))
            else:
                self.stdout.write(
                    f"{call['created_at']:%Y-%m-%d %H:%M:%S} {call['endpoint']:<22} "
                    f"{call['status_code']} {'replay' if call['replayed'] else '      '} "
                    f"{call['duration_ms']:>6} ms  {call['idempotency_key']}"
                )
