from django.core.management.base import BaseCommand

from operations.defaults import ensure_defaults


class Command(BaseCommand):
    help = "Create the built-in alert rules and the default SLA if they are missing."

    def handle(self, *args, **options):
        ensure_defaults()
        self.stdout.write("Built-in rules and the default SLA are in place.")
