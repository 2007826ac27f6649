from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations: alerts, SLA, events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from onboarding.fsm_log import transitions_recorded

        from . import receivers

        transitions_recorded.connect(receivers.record_events, dispatch_uid="operations-record-events")
