import threading
import time
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def start_thread(target, *args) -> threading.Thread:
    """A thread that closes its own database connection, as a worker process would on exit."""

    def run():
        try:
            target(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def run_in_threads(target, n: int, *args) -> None:
    for thread in [start_thread(target, *args) for _ in range(n)]:
        thread.join()


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def database_url() -> str:
    db = connection.settings_dict
    if "sqlite" in db["ENGINE"]:
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def csm_group():
    """The "CSM" group migration 0004 makes, with its permissions. A transactional test's flush
    empties every table (permissions come back, a data migration's rows do not), so a test
    that follows one in the same worker makes it again."""
    from importlib import import_module

    from django.contrib.auth.models import Group, Permission

    group, created = Group.objects.get_or_create(name="CSM")
    if created:
        wanted = import_module("onboarding.migrations.0004_csm_group").CSM_PERMISSIONS
        for app, codename in wanted:
            group.permissions.add(Permission.objects.get(content_type__app_label=app, codename=codename))
    return group
