import os

from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "onboarding"
    verbose_name = "Etter onboarding"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_q.signals import post_spawn

        from onboarding import tasks

        post_spawn.connect(tasks.wake_on_spawn, dispatch_uid="onboarding-wake-on-spawn")
        from django.contrib.auth.signals import user_logged_in

        from onboarding.timezones import remember_on_login

        user_logged_in.connect(remember_on_login, dispatch_uid="onboarding-time-zone-on-login")
        os.register_at_fork(after_in_child=_forget_inherited_connections)


_inherited: list = []


def _forget_inherited_connections() -> None:
    """A forked worker must not use, or close, the connections its parent opened: closing one
    would end the parent's session too. Keep them referenced (never finalized here) and start
    with a fresh pool and fresh per-thread connections."""
    from django.db import connections
    from django.db.backends.postgresql.base import DatabaseWrapper

    # Private to Django's PostgreSQL backend, so django-stubs does not declare it.
    pools: dict = DatabaseWrapper._connection_pools  # type: ignore[attr-defined]
    _inherited.append(dict(pools))
    pools.clear()
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited.append(conn.connection)
            conn.connection = None
