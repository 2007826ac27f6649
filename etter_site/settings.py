"""Settings, all from the environment (see .env.example for every name and its meaning)."""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from etter_site.security import proxy_ssl_header, refuse_insecure_secret_key
from onboarding.contract import ENHANCEMENTS, LLM_BACKED

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if not env.bool("ETTER_IGNORE_DOTENV", default=False):  # the test suite ignores a developer's .env
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Published in this repository: it may sign nothing outside a developer's machine.
DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default="")
if not DEBUG:
    # A production start with a guessable key would sign sessions, password resets and JD download
    # links that anyone can forge: refuse what `check --deploy` calls insecure, at start.
    refuse_insecure_secret_key(SECRET_KEY, development_key=DEVELOPMENT_SECRET_KEY)
elif not SECRET_KEY:
    SECRET_KEY = DEVELOPMENT_SECRET_KEY

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The public address of this site: signed JD download links handed to draup-world start with it.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_fsm",
    "django_fsm_log",
    "django_q",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "onboarding",
    "batches",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "etter_site.middleware.RequestGuardMiddleware",  # before anything reads the body or the DB
    # GET status polls of a known token, answered here: the rest of the stack cost more than they do
    "onboarding.api.status_lane.StatusLaneMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "etter_site.urls"
WSGI_APPLICATION = "etter_site.wsgi.application"
ASGI_APPLICATION = "etter_site.asgi.application"

TEMPLATES: list[dict] = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, workers and the lease heartbeat write at once: wait for the lock instead of failing.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            # WAL with NORMAL sync: no fsync per commit, still safe from corruption.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
    # The same backend, but bulk writes use SQLite's real parameter limit (not 999): a big push
    # costs the statements it costs on PostgreSQL.
    DATABASES["default"]["ENGINE"] = "etter_site.sqlite_backend"
elif env.bool("DATABASE_POOL", default=True):
    # Each process shares a few PostgreSQL connections among all its threads: a runner with
    # hundreds of runs in flight holds a connection only for the moment it writes, never
    # during a draup-world call (see README, "How the pipeline works").
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=8),
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=60.0),
        "max_idle": 60.0,
    }
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL = "media/"
# Uploaded JDs larger than this are refused: nobody writes a 20 MB job description.
JD_MAX_UPLOAD_BYTES = env.int("JD_MAX_UPLOAD_BYTES", default=10 * 1024 * 1024)

LOGIN_URL = "admin:login"

# --- draup-world (see ../shared/draup-world-contract.md) ----------------------------------
DRAUP_WORLD_SIMULATOR = env.bool("DRAUP_WORLD_SIMULATOR", default=DEBUG)
DRAUP_WORLD_BASE_URL = env.str("DRAUP_WORLD_BASE_URL", default=f"{SITE_URL}/simulator").rstrip("/")
DRAUP_WORLD_TOKEN = env.str("DRAUP_WORLD_TOKEN", default="")
DRAUP_WORLD_CONNECT_TIMEOUT = env.float("DRAUP_WORLD_CONNECT_TIMEOUT", default=5.0)
DRAUP_WORLD_READ_TIMEOUTS = {
    "create_company_role": env.float("DRAUP_WORLD_CREATE_ROLE_TIMEOUT", default=300.0),
    "link_job_description": env.float("DRAUP_WORLD_LINK_JD_TIMEOUT", default=300.0),
    "run_ai_assessment": env.float("DRAUP_WORLD_ASSESSMENT_TIMEOUT", default=1800.0),
    # The enhancement workflows: the LLM-backed ones as the assessment, the others as role setup.
    **{
        name: env.float(
            f"DRAUP_WORLD_{name.upper()}_TIMEOUT", default=1800.0 if name in LLM_BACKED else 300.0
        )
        for name in ENHANCEMENTS
    },
}
# The enhancement workflows' real paths are not published yet: override any of them, e.g.
# DRAUP_WORLD_PATHS="top_tasks=/api/v2/top-tasks,reskilling=/api/v2/reskilling".
DRAUP_WORLD_PATHS = env.dict("DRAUP_WORLD_PATHS", default={})

# The simulator's behaviour; every rate is a fraction of calls (0.0 to 1.0).
SIMULATOR = {
    "LATENCY": {
        "create_company_role": env.float("SIMULATOR_LATENCY_CREATE_ROLE", default=0.05),
        "link_job_description": env.float("SIMULATOR_LATENCY_LINK_JD", default=0.05),
        "run_ai_assessment": env.float("SIMULATOR_LATENCY_ASSESSMENT", default=1.0),
        **{
            name: env.float(f"SIMULATOR_LATENCY_{name.upper()}", default=1.0 if name in LLM_BACKED else 0.05)
            for name in ENHANCEMENTS
        },
    },
    "RATE_503": env.float("SIMULATOR_RATE_503", default=0.0),
    "RATE_429": env.float("SIMULATOR_RATE_429", default=0.0),
    "RETRY_AFTER": env.int("SIMULATOR_RETRY_AFTER", default=2),
    "RATE_HANG": env.float("SIMULATOR_RATE_HANG", default=0.0),
    "HANG_SECONDS": env.float("SIMULATOR_HANG_SECONDS", default=60.0),
    "ASSESSMENTS_PER_MINUTE": env.int("SIMULATOR_ASSESSMENTS_PER_MINUTE", default=0),
    "TOKEN": env.str("SIMULATOR_TOKEN", default=""),
    "SEED": env.int("SIMULATOR_SEED", default=7),
    "JD_DOWNLOAD_TIMEOUT": env.float("SIMULATOR_JD_DOWNLOAD_TIMEOUT", default=10.0),
}

# --- the pipeline --------------------------------------------------------------------------
# A runner holds each of its runs under a lease this long and renews it every
# PIPELINE_HEARTBEAT_SECONDS; a dead worker's runs are taken over once their lease expires.
PIPELINE_LEASE_SECONDS = env.float("PIPELINE_LEASE_SECONDS", default=60.0)
PIPELINE_HEARTBEAT_SECONDS = env.float("PIPELINE_HEARTBEAT_SECONDS", default=10.0)
# In-flight capacity: each busy django-q2 worker process runs one runner, which works on up to
# this many runs at once, each on its own thread (a run waits on draup-world, not on the CPU).
PIPELINE_RUNS_PER_RUNNER = env.int("PIPELINE_RUNS_PER_RUNNER", default=400)
# Runners per cluster; the other worker processes stay free for other jobs (the sweep, events).
PIPELINE_RUNNERS_PER_CLUSTER: int = env.int("PIPELINE_RUNNERS_PER_CLUSTER", default=0)
# Retry waits up to this long keep the run on its thread; longer ones release it, and a runner
# takes it again when it is due (runners look for due work twice a second).
PIPELINE_INLINE_WAIT_SECONDS = env.float("PIPELINE_INLINE_WAIT_SECONDS", default=5.0)
# Multiplies every backoff wait of the retry policies (tests make waits short with it).
PIPELINE_BACKOFF_SCALE = env.float("PIPELINE_BACKOFF_SCALE", default=1.0)
# When a call's attempts run out on an error that retrying can fix (server trouble, rate limit,
# timeout), the run pauses this long and the call gets its attempts again, this many times,
# before the run ends FAILED. Errors that retrying cannot fix fail at once.
PIPELINE_RECOVERY_ROUNDS = env.int("PIPELINE_RECOVERY_ROUNDS", default=2)
PIPELINE_RECOVERY_WAIT_SECONDS = env.float("PIPELINE_RECOVERY_WAIT_SECONDS", default=120.0)
# A runner stops taking new runs after this long and hands over to a fresh job.
PIPELINE_DRAIN_SECONDS = env.float("PIPELINE_DRAIN_SECONDS", default=3600.0)
# At most this many runs of one company held by workers at once (reference 002 suggests 200);
# the rest wait in QUEUED, in push order. 0: no limit.
PIPELINE_COMPANY_CONCURRENCY = env.int("PIPELINE_COMPANY_CONCURRENCY", default=200)
# Backpressure: a push that would leave more than this many runs QUEUED is refused whole
# (429 with Retry-After in the API, a message in the admin). 0: no limit.
PIPELINE_MAX_QUEUED_RUNS = env.int("PIPELINE_MAX_QUEUED_RUNS", default=50_000)
# Priority: an urgent push joins the queue as if pushed this much earlier, so it overtakes
# normal runs pushed within that time but never one that has waited longer (no starvation).
PIPELINE_URGENT_HEAD_START_SECONDS = env.float("PIPELINE_URGENT_HEAD_START_SECONDS", default=1800.0)
# Assessments started per minute across all workers (0: no limit). Set it a little below
# draup-world's own limit; the pace also slows by itself when draup-world answers 429.
PIPELINE_ASSESSMENTS_PER_MINUTE = env.float("PIPELINE_ASSESSMENTS_PER_MINUTE", default=0)
# A run waits on its thread up to this long for its assessment slot; a later slot releases it.
PIPELINE_PACE_MAX_WAIT_SECONDS = env.float("PIPELINE_PACE_MAX_WAIT_SECONDS", default=60.0)
# CSV imports larger than this are refused whole: split the file.
CSV_MAX_ROWS = env.int("CSV_MAX_ROWS", default=5000)
# Cost estimates (onboarding/budgets.py): the price of LLM tokens, and the tokens a role is
# assumed to use before any run has reported its usage.
LLM_PRICE_PER_MILLION_TOKENS = env.float("LLM_PRICE_PER_MILLION_TOKENS", default=5.0)
LLM_PRICE_CURRENCY = env.str("LLM_PRICE_CURRENCY", default="USD")
LLM_TOKENS_PER_ROLE = env.int("LLM_TOKENS_PER_ROLE", default=12_000)
# How long a customer report link (a signed token) stays valid.
CUSTOMER_REPORT_LINK_DAYS = env.int("CUSTOMER_REPORT_LINK_DAYS", default=14)
# The CSV import's files: the CSV itself, and the zip of JD files (each JD inside it is held to
# JD_MAX_UPLOAD_BYTES, and never unpacked past it).
CSV_MAX_BYTES = env.int("CSV_MAX_BYTES", default=20 * 1024 * 1024)
CSV_ZIP_MAX_BYTES = env.int("CSV_ZIP_MAX_BYTES", default=200 * 1024 * 1024)

# --- django-q2 -----------------------------------------------------------------------------
Q_WORKERS = env.int("Q_WORKERS", default=4)
if not PIPELINE_RUNNERS_PER_CLUSTER:  # 0: all workers but one
    PIPELINE_RUNNERS_PER_CLUSTER = max(1, Q_WORKERS - 1)


def _refuse(name: str, why: str) -> None:
    raise ImproperlyConfigured(f"{name}: {why}")


if PIPELINE_RUNS_PER_RUNNER < 1:
    _refuse("PIPELINE_RUNS_PER_RUNNER", "must be at least 1: a runner with no room runs nothing.")
if Q_WORKERS < 1:
    _refuse("Q_WORKERS", "must be at least 1.")
if PIPELINE_RUNNERS_PER_CLUSTER > Q_WORKERS:
    _refuse("PIPELINE_RUNNERS_PER_CLUSTER", f"cannot exceed Q_WORKERS ({Q_WORKERS}).")
if PIPELINE_HEARTBEAT_SECONDS <= 0:
    _refuse("PIPELINE_HEARTBEAT_SECONDS", "must be above 0.")
if PIPELINE_LEASE_SECONDS < 2 * PIPELINE_HEARTBEAT_SECONDS:
    _refuse(
        "PIPELINE_LEASE_SECONDS",
        f"must be at least twice PIPELINE_HEARTBEAT_SECONDS ({PIPELINE_HEARTBEAT_SECONDS:g} s), or a "
        "live runner's runs expire between two heartbeats and a second runner takes them.",
    )
if PIPELINE_RECOVERY_ROUNDS < 0:
    _refuse("PIPELINE_RECOVERY_ROUNDS", "cannot be negative.")

# A runner job lives while work is in flight: its timeout must outlast the drain time plus the
# longest call, and `retry` must stay above `timeout` or the ORM broker hands the same message
# to a second worker while the first still runs it.
_q_timeout = int(PIPELINE_DRAIN_SECONDS + DRAUP_WORLD_READ_TIMEOUTS["run_ai_assessment"] + 300)
Q_CLUSTER = {
    "name": "etter",
    "workers": Q_WORKERS,
    "timeout": _q_timeout,
    "retry": _q_timeout + 300,
    "max_attempts": 1,
    "recycle": 200,
    "queue_limit": Q_WORKERS * 2,
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "poll": 0.2,
    "orm": "default",
}
Q_REDIS_URL = env.str("Q_REDIS_URL", default="")
if Q_REDIS_URL:
    Q_CLUSTER.pop("orm")
    Q_CLUSTER["redis"] = Q_REDIS_URL

# --- API ------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "onboarding.api.errors.handle",
    "DEFAULT_PARSER_CLASSES": [
        "onboarding.api.parsers.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["onboarding.api.throttling.FixedWindowUserThrottle"],
    "DEFAULT_THROTTLE_RATES": {"user": env.str("API_THROTTLE_RATE", default="600/min")},
}
# Bad input is refused before it can do harm (README, "The API"): a body larger than this answers
# 413 on /api/ (Django's own limit; uploaded files aside), and JSON nested deeper than this 400.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=64)
SPECTACULAR_SETTINGS = {
    "TITLE": "Etter onboarding pipeline API",
    "VERSION": "0.1.0",
    "DESCRIPTION": "Push roles through the Etter onboarding pipeline and watch them. Authenticate with "
    "'Authorization: Token <key>' (manage.py drf_create_token USER) or an admin session.",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_INCLUDE_SCHEMA": False,  # the schema does not describe its own address
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and ReDoc from drf-spectacular-sidecar's static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Names for the choice sets of the answers (onboarding/api/serializers.py), so the schema has
    # no generated names and `check --deploy` (which builds the schema) no warnings.
    "ENUM_NAME_OVERRIDES": {
        "RoleStateEnum": "onboarding.models.RoleState",
        "RoleStatusEnum": "onboarding.api.serializers.ROLE_STATUS_CHOICES",
        "RunStatusEnum": "onboarding.api.serializers.RUN_STATUS_CHOICES",
        "RunAnswerStatusEnum": "onboarding.api.serializers.RUN_ANSWER_STATUS_CHOICES",
        "PartHealthEnum": "onboarding.api.serializers.PART_HEALTH_CHOICES",
        "DraupWorldHealthEnum": "onboarding.api.serializers.DRAUP_WORLD_HEALTH_CHOICES",
        "SiteHealthEnum": "onboarding.api.serializers.SITE_HEALTH_CHOICES",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}

# --- HTTPS (see README, "Security"). Off unless turned on, so `./bin/start` and the tests work over
# plain http; the production image (Dockerfile ENV) turns them all on.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# A load balancer probes health over plain HTTP: it must get the answer, not a redirect.
SECURE_REDIRECT_EXEMPT = [r"^api/v1/pipeline/health$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# The header a TLS-terminating proxy sets to "https" (e.g. X-Forwarded-Proto). Trust it only
# behind such a proxy: anyone else could send it.
SECURE_PROXY_SSL_HEADER = proxy_ssl_header(env.str("SECURE_PROXY_SSL_HEADER", default=""))
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)

# Times show in the viewer's time zone (their choice, else their browser's): onboarding/timezones.py.
MIDDLEWARE += ["onboarding.timezones.ViewerTimeZoneMiddleware"]  # noqa: F405  (after authentication)

# Sections other apps add to onboarding's status pages (see onboarding/status_pages.py).
STATUS_PAGE_PANELS = {
    "index": ["batches.pages.recent_batches_panel"],
    "company": ["batches.pages.company_batches_panel"],
}

DJANGO_FSM_LOG_STORAGE_METHOD = "onboarding.fsm_log.CollectingBackend"

# --- issue 14: fast accepts and status polling at scale ------------------------------------
# The admin action "Push to Etter as a batch" posts one field per selected role: 2,500 roles
# and more must get through (Django's default stops at 1,000 fields).
DATA_UPLOAD_MAX_NUMBER_FIELDS = env.int("DATA_UPLOAD_MAX_NUMBER_FIELDS", default=2 * CSV_MAX_ROWS + 100)
# Per-process caches. "status" holds GET status answers keyed by (workflow_id, version), which is
# correct however many processes serve (each reads the version from the database), and the
# token -> user lookups of the API (see onboarding/api/auth.py).
# How many runs' status cores (onboarding/polling.py) and other polled answers a process keeps.
STATUS_CACHE_ENTRIES = env.int("STATUS_CACHE_ENTRIES", default=20000)
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "status": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "etter-status",
        "OPTIONS": {"MAX_ENTRIES": STATUS_CACHE_ENTRIES},
    },
}
# How long a token's user (and their permissions) is remembered by a server process.
API_AUTH_CACHE_SECONDS = env.int("API_AUTH_CACHE_SECONDS", default=10)
# A batch's status (batch-status, the batch page's live partial) is computed at most this often
# per server process and scope, and served from its cache meanwhile: at most this many seconds
# old. 0: computed on every request.
BATCH_STATUS_FRESH_SECONDS = env.float("BATCH_STATUS_FRESH_SECONDS", default=1.0)
REST_FRAMEWORK["DEFAULT_AUTHENTICATION_CLASSES"] = [
    "onboarding.api.auth.CachedTokenAuthentication",
    "rest_framework.authentication.SessionAuthentication",
]
# The status pages' live partials are polled every few seconds by every open page: with these, a
# poll reads no session row, user or permissions (remembered as long as a token's user, above;
# see etter_site/sessions.py and etter_site/auth.py for what takes effect when).
SESSION_ENGINE = "etter_site.sessions"
AUTHENTICATION_BACKENDS = ["etter_site.auth.CachedModelBackend"]
MIDDLEWARE[MIDDLEWARE.index("django.contrib.auth.middleware.AuthenticationMiddleware")] = (
    "etter_site.auth.CachedAuthenticationMiddleware"
)
# Keep database connections open between requests: opening one costs more than a status answer.
# No health check per request (it is one more round trip on every poll): a connection that broke
# fails one request and is then replaced. (No persistent connections with a connection pool,
# which Django refuses to combine with them.)
if "pool" not in DATABASES["default"].get("OPTIONS", {}):
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)

# --- operations: events, alerts, SLA, stats, metrics (the `operations` app) --------------------
INSTALLED_APPS += ["operations"]  # noqa: F405  (last: it builds on onboarding and batches)
TEMPLATES[0]["OPTIONS"]["context_processors"].append("operations.context_processors.inbox")
# Email: console in development; in production e.g. smtp+tls://user:password@smtp.example.com:587
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST, EMAIL_PORT = _email.get("EMAIL_HOST") or "localhost", _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = (
    _email.get("EMAIL_HOST_USER") or "",
    _email.get("EMAIL_HOST_PASSWORD") or "",
)
EMAIL_USE_TLS, EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_TLS")), bool(_email.get("EMAIL_USE_SSL"))
EMAIL_FILE_PATH = _email.get("EMAIL_FILE_PATH") or None  # filemail:////abs/path (four slashes)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)  # an SMTP server that hangs must not hold a worker
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Etter onboarding <etter-onboarding@localhost>")
# Events handled per claim; a claimed chunk is handed to another processor after the lease.
EVENTS_CHUNK_SIZE = env.int("EVENTS_CHUNK_SIZE", default=500)
EVENTS_LEASE_SECONDS = env.int("EVENTS_LEASE_SECONDS", default=120)
# At most one processing job is enqueued per process per this many seconds (0: one per commit;
# negative: none, the one-minute schedule handles events).
EVENTS_DOORBELL_SECONDS = env.float("EVENTS_DOORBELL_SECONDS", default=1.0)
# Webhooks: per-call timeouts; 5xx/429/timeouts are retried after BACKOFF, 2x BACKOFF, ...
WEBHOOK_CONNECT_TIMEOUT_SECONDS = env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=3.0)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=5.0)
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=5)
WEBHOOK_BACKOFF_SECONDS = env.float("WEBHOOK_BACKOFF_SECONDS", default=10.0)
# Retries due sooner than this are waited for inside the worker; later ones by the schedule.
WEBHOOK_INLINE_WAIT_SECONDS = env.float("WEBHOOK_INLINE_WAIT_SECONDS", default=5.0)
# Push -> READY target when no SLA config applies (reference 002: "time to dashboard").
SLA_DEFAULT_TARGET_MINUTES = env.float("SLA_DEFAULT_TARGET_MINUTES", default=15.0)
# /metrics answers `Authorization: Bearer <METRICS_TOKEN>` (or a staff session). Empty: staff only.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# The health endpoint's draup-world probe is reused for this long (it is open to anyone).
HEALTH_PROBE_CACHE_SECONDS = env.float("HEALTH_PROBE_CACHE_SECONDS", default=5.0)
