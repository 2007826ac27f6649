"""Settings for the test suite: PostgreSQL when reachable (DATABASE_URL, else the local
server at 127.0.0.1:5432 as postgres), else SQLite. Short leases and waits so the retry and
crash tests finish in seconds. Environment values win, so a worker started by a test can be
pointed at the test database."""

import os
import secrets
import tempfile

os.environ["ETTER_IGNORE_DOTENV"] = "1"
# DEBUG is off in the tests, as in production, so the key must be one production would accept.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("DRAUP_WORLD_SIMULATOR", "1")
os.environ.setdefault("PIPELINE_LEASE_SECONDS", "2")
os.environ.setdefault("PIPELINE_HEARTBEAT_SECONDS", "0.5")
# The contract's attempts exactly; the recovery rounds have their own tests.
os.environ.setdefault("PIPELINE_RECOVERY_ROUNDS", "0")
os.environ.setdefault("PIPELINE_RECOVERY_WAIT_SECONDS", "0.5")
os.environ.setdefault("PIPELINE_BACKOFF_SCALE", "0.01")
os.environ.setdefault("PIPELINE_INLINE_WAIT_SECONDS", "3")
os.environ.setdefault("PIPELINE_DRAIN_SECONDS", "600")
os.environ.setdefault("PIPELINE_RUNS_PER_RUNNER", "50")
os.environ.setdefault("Q_WORKERS", "2")
# Tests call the event processor themselves: no doorbell jobs, so that query counts do not
# depend on timing and no operations job sits in the queue that pipeline_sweep counts (the
# real-cluster test of operations sets 1 s for its workers).
os.environ.setdefault("EVENTS_DOORBELL_SECONDS", "-1")
os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="etter-test-media-"))
for name in ("SIMULATOR_LATENCY_CREATE_ROLE", "SIMULATOR_LATENCY_LINK_JD", "SIMULATOR_LATENCY_ASSESSMENT"):
    os.environ.setdefault(name, "0")
for step in ("top_tasks", "standardize_tasks", "skills_miner", "skills_architecture", "task_feasibility"):
    os.environ.setdefault(f"SIMULATOR_LATENCY_{step.upper()}", "0")
for step in ("skills_catalog", "reskilling"):
    os.environ.setdefault(f"SIMULATOR_LATENCY_{step.upper()}", "0")


def _postgres_reachable() -> bool:
    try:
        import psycopg

        psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=2").close()
        return True
    except Exception:
        return False


if "DATABASE_URL" not in os.environ:
    if _postgres_reachable():
        os.environ["DATABASE_URL"] = "postgres://postgres@127.0.0.1:5432/etter"
    else:
        os.environ["DATABASE_URL"] = "sqlite:///" + os.path.join(tempfile.gettempdir(), "etter-test.sqlite3")

from .settings import *  # noqa: E402, F403
from .settings import DATABASES  # noqa: E402

if "sqlite" in DATABASES["default"]["ENGINE"]:
    # A file, not memory: workers started by the tests must see the same database.
    DATABASES["default"]["TEST"] = {"NAME": DATABASES["default"]["NAME"]}
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend with a cheap flush after transactional tests (see its docstring); and
    # commits need not wait for the disk: a test database is thrown away, never recovered.
    DATABASES["default"]["ENGINE"] = "etter_site.test_postgresql"
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
WHITENOISE_AUTOREFRESH = True
