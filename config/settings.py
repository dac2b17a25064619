"""Settings from the environment.

`DATABASE_URL` (postgres://... or sqlite:///path) and `REDIS_URL` select the real services. With
neither set the registry runs embedded: SQLite in the project folder and Celery eager, with a
development key generated once into `var/`. `DEBUG`, `SECRET_KEY` and `ALLOWED_HOSTS` come from the
environment.
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("REGISTRY_VAR_DIR", BASE_DIR / "var"))
SHARED_DIR = Path(os.environ.get("REGISTRY_SHARED_DIR", BASE_DIR.parent / "shared"))


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}: expected 1/0/true/false, got {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}: expected a whole number, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}: expected {minimum} or more, got {number}")
    return number


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DATABASE_URL = os.environ.get("DATABASE_URL", "")
REDIS_URL = os.environ.get("REDIS_URL", "")
EMBEDDED = not DATABASE_URL and not REDIS_URL

DEBUG = env_bool("DEBUG", EMBEDDED)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DATABASE_URL or REDIS_URL is set; "
            "a generated development key is only used in the embedded default."
        )
    key_file = VAR_DIR / "dev-secret-key"
    if not key_file.exists():
        VAR_DIR.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "workspace",  # first, so its admin templates (base_site, index) win over django.contrib.admin's
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "registry",
    "rules",
    "obligations",
    "reports",
    "accounts",
    "api",
    "bench",
    "csp",
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "api.middleware.ApiRequestGuardMiddleware",
    "config.middleware.QueryNulGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it answers a locked-out login with 429
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
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


def _prepared_statements(value: str) -> str:
    """DATABASE_PREPARED_STATEMENTS: `writes` (the default), `all` (or 1) or `off` (or 0)."""
    value = value.strip().lower() or "writes"
    for meaning, spellings in (("writes", {"writes"}), ("all", {"all", "1", "true", "yes", "on"}),
                               ("off", {"off", "0", "false", "no"})):
        if value in spellings:
            return meaning
    raise ImproperlyConfigured(f"DATABASE_PREPARED_STATEMENTS: expected writes, all (1) or off (0), got {value!r}")


# Prepared statements on PostgreSQL (api.prepared): for a lab's registry writes only (`writes`), for
# every statement (`all`), or never (`off`: behind a pooler that cannot carry them).
PREPARED_STATEMENTS = _prepared_statements(os.environ.get("DATABASE_PREPARED_STATEMENTS", ""))

if DATABASE_URL:
    # Persistent connections, checked before each request reuses one: a database restart costs
    # the requests in flight, not every request that follows.
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and PREPARED_STATEMENTS == "all":
        # Every connection: values bound by the server, and a statement run five times on a
        # connection kept prepared there, so that PostgreSQL may reuse its plan instead of planning it
        # at each execution. PostgreSQL's generic plans made some list pages of a year's log several
        # times slower (BENCHMARKS.md, "Submissions planned once"): by default only a lab's registry
        # writes run so (`api.prepared.statements_prepared`).
        # `server_side_binding` tells Django the values are bound by the server (how it shows a
        # statement run); the cursor binds a statement of more than 65,535 values by the client.
        from api.prepared import PreparingCursor

        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"server_side_binding": True, "cursor_factory": PreparingCursor, "prepare_threshold": 5})
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": BASE_DIR / "db.sqlite3",
        }
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Concurrent writers (several web workers, the API) queue for SQLite's lock instead of failing with
    # "database is locked" when a transaction that has read wants to write.
    DATABASES["default"].setdefault("OPTIONS", {}).update({"transaction_mode": "IMMEDIATE", "timeout": 20})
DATABASES["default"].setdefault("TEST", {})
if os.environ.get("TEST_DATABASE_NAME"):
    DATABASES["default"]["TEST"]["NAME"] = os.environ["TEST_DATABASE_NAME"]

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
FORMAT_MODULE_PATH = ["config.formats"]  # ISO 8601 dates in every page
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# WhiteNoise serves the apps' static files (the admin's, Swagger UI's) even where no collectstatic ran.
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "media/"

# A fulfilment's document (obligations/recording.py) is kept under MEDIA_ROOT with its SHA-256; a
# larger one is refused, naming the field.
FULFILMENT_DOCUMENT_MAX_BYTES = env_int("FULFILMENT_DOCUMENT_MAX_BYTES", 10 * 1024 * 1024, minimum=1)

# Email (the obligation reminders, obligations/reminders.py): the console backend unless EMAIL_BACKEND
# names another (an SMTP server from EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25, minimum=1)
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10, minimum=1)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "registry@localhost")
# Reminders go to labs about obligations due within this many days.
OBLIGATION_REMINDER_DAYS = env_int("OBLIGATION_REMINDER_DAYS", 14, minimum=1)

# Celery: JSON only (a regulator's data is never pickled), late acknowledgement so a task whose
# worker dies is redelivered, bounded run time.
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1800)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1500)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A message whose worker died unacknowledged is delivered again after `visibility_timeout` seconds
# (a prefork child that dies is requeued at once: reject_on_worker_lost). Sending gives up after one
# quick retry, so a submission is answered at once while the broker is down; its evaluation waits in
# the outbox (rules.PendingEvaluation) for the periodic sweep.
CELERY_BROKER_CONNECTION_TIMEOUT = float(os.environ.get("CELERY_BROKER_CONNECTION_TIMEOUT", "2"))
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": float(os.environ.get("CELERY_BROKER_SOCKET_TIMEOUT", "30")),
}
# Two queues, so reports never hold up evaluations: `evaluations` (submissions, runs, the outbox
# sweep, the nightly re-evaluation) and `reports` (rendering stored reports, which can take minutes).
# A worker started without `-Q` consumes both; a deployment runs one pool per queue (README).
CELERY_TASK_QUEUES = tuple(Queue(name, Exchange(name), routing_key=name) for name in ("evaluations", "reports"))
CELERY_TASK_DEFAULT_QUEUE = "evaluations"
CELERY_TASK_ROUTES = {
    "reports.tasks.*": {"queue": "reports"},
    "rules.tasks.*": {"queue": "evaluations"},
    "api.tasks.*": {"queue": "evaluations"},
    "accounts.tasks.*": {"queue": "evaluations"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"

# A run carried out in one process (`reevaluate --in-process`, `evaluate --record`, the determinations
# a report needs) on PostgreSQL: this many processes, forked from it, read and evaluate the next chunks while
# it chains and writes each in turn; 0 reads them on a thread of its own. A Celery worker runs one
# chunk per task instead, and more workers are the way to scale out.
RUN_READER_PROCESSES = env_int("RUN_READER_PROCESSES", os.cpu_count() or 1, minimum=0)

# The daily "Decision log: indexes rebuilt when split past their compact size" (`rules.log_indexes`):
# on PostgreSQL, an index of the log larger than this percentage of the size a fresh build of its
# entries would have is rebuilt with REINDEX INDEX CONCURRENTLY.
DECISION_LOG_INDEX_REBUILD_PERCENT = env_int("DECISION_LOG_INDEX_REBUILD_PERCENT", 120, minimum=100)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "api.schema.ApiAutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasApiRole"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.InterchangeJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["api.renderers.FiniteJSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.PageSizePagination",
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "EXCEPTION_HANDLER": "api.exceptions.api_exception_handler",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Compute Threshold Registry API",
    "VERSION": "1.0.0",
    "DESCRIPTION": (
        "Labs submit and revise their organisations, models and clusters; regulators read everything and "
        "trigger evaluations. Authenticate with `Authorization: Bearer <token>` (`manage.py create_api_user`). "
        "Every error is JSON: `{\"detail\": ..., \"errors\": [{\"field\": ..., \"message\": ...}]}`."
    ),
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",  # operations are grouped by resource (models, runs...)
    "ENUM_NAME_OVERRIDES": {
        "DeterminationStatusEnum": "rules.engine.vocabulary.STATUS_CHOICES",
        "SubjectKindEnum": "api.serializers.rules.SUBJECT_KINDS",
        "RunStatusEnum": "rules.models.runs.RunStatus",
        "RunKindEnum": "rules.models.runs.Trigger",  # a run's kind, a determination's trigger
    },
}

# The largest cluster the registry takes (registry/services.py refuses more, naming the field, in the
# API, the import and the admin): its groups of accelerators and the network links between them.
CLUSTER_MAX_GROUPS = env_int("CLUSTER_MAX_GROUPS", 500, minimum=1)
CLUSTER_MAX_LINKS = env_int("CLUSTER_MAX_LINKS", 2000, minimum=0)

# The API (api/): request bodies larger than this are refused with 413; requests per token are
# throttled at this rate (429 with Retry-After); lists give at most API_MAX_PAGE_SIZE items a page.
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
API_THROTTLE_RATE = os.environ.get("API_THROTTLE_RATE", "600/min")
API_MAX_PAGE_SIZE = 500
# An `Idempotency-Key` answers retries for this many hours; after that the key may be used afresh and
# its record is purged by the daily `api.tasks.purge_idempotency_records`.
API_IDEMPOTENCY_KEY_TTL_HOURS = env_int("API_IDEMPOTENCY_KEY_TTL_HOURS", 24, minimum=1)
# POSTs that queue work (an evaluation or a report) are also counted at this lower rate per token.
API_WORK_THROTTLE_RATE = os.environ.get("API_WORK_THROTTLE_RATE", "30/min")
# Reports (reports/): a user may have this many requested reports not yet built (more is a 429); a
# registry report charts at most REPORTS_CHART_MAX_POINTS subjects one by one (past that they are
# counted per cell), names REPORTS_CHART_LEFT_OUT_NAMED of those it leaves out, and lists at most
# REPORTS_REGISTRY_LIST_LIMIT determinations in each of its covered and indeterminate lists.
REPORT_MAX_PENDING = env_int("REPORT_MAX_PENDING", 3, minimum=1)
REPORTS_CHART_MAX_POINTS = env_int("REPORTS_CHART_MAX_POINTS", 2000, minimum=0)
REPORTS_CHART_LEFT_OUT_NAMED = env_int("REPORTS_CHART_LEFT_OUT_NAMED", 20, minimum=0)
REPORTS_REGISTRY_LIST_LIMIT = env_int("REPORTS_REGISTRY_LIST_LIMIT", 500, minimum=0)
# A run's change report (HTML, PDF) shows every change counted by regime and status, and lists at most
# REPORTS_CHANGES_LISTED of them in full (the tests that flipped, their values); its CSV has them all.
# The day a law takes effect a run changes every subject's status: a PDF of 100,000 changes would
# take a worker's whole memory.
REPORTS_CHANGES_LISTED = env_int("REPORTS_CHANGES_LISTED", 500, minimum=0)
# Throttle counts are shared by every web process through Redis when it is configured.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "api": (
        {"BACKEND": "api.cache.PooledClientRedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "api",
         "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}  # an unreachable Redis costs a second
        if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "api"}
    ),
    # The flag that an evaluation of the outbox is queued (rules.receivers), shared by the web
    # processes and the workers.
    "outbox": (
        {"BACKEND": "api.cache.PooledClientRedisCache", "LOCATION": REDIS_URL, "KEY_PREFIX": "outbox",
         "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}
        if REDIS_URL else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "outbox"}
    ),
}
# With Redis, submissions committed while an evaluation of the outbox is queued ask for no other: one
# task reads them all (README "Decision log and jobs"). Without it (or with eager Celery) each
# submission's rows are sent in a task of their own.
OUTBOX_COALESCED = bool(REDIS_URL)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# Limits on what one organisation's records may make the registry hold: how many base models a
# model may have above it (its lineage depth), and how many models an organisation may have.
REGISTRY_MAX_LINEAGE_DEPTH = env_int("REGISTRY_MAX_LINEAGE_DEPTH", 32, minimum=1)
REGISTRY_MAX_MODELS_PER_ORGANISATION = env_int("REGISTRY_MAX_MODELS_PER_ORGANISATION", 5000, minimum=1)

REGISTRY_ACCELERATOR_CSV = BASE_DIR / "registry" / "data" / "accelerators.csv"
REGISTRY_RULE_LIBRARY = BASE_DIR / "rules" / "library"

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Content-Security-Policy on every page: scripts, styles and everything else from this site only,
# no inline script, never framed. (The API's Swagger page relaxes style-src for its inline style.)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT failed attempts for one username from one
# address, further attempts are refused with 429 for LOGIN_COOLOFF_MINUTES; a success resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
