from django.core.management.base import BaseCommand

from onboarding.tasks import pipeline_sweep


class Command(BaseCommand):
    help = (
        "Find runs no live worker holds (worker died, message lost, retry due) and wake "
        "workers for them. The same sweep runs every minute on the django-q2 schedule."
    )

    def handle(self, *args, **options):
        found = pipeline_sweep()
        self.stdout.write(
            f"{found['stuck']} runs had lost their worker; {found['waiting']} wait for a worker; "
            f"woke {found['woken']} workers."
        )
