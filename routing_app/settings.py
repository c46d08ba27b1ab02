"""Settings for Routing Review, read from environment variables only.

With nothing set the app runs embedded: SQLite in ``DATA_DIR`` and Celery tasks executed in the
web process. ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL`` switch to production mode. Every
variable is listed in ``.env.example``.
"""

from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from routing_app.envvars import (
    env_bool,
    env_int,
    env_json_patterns,
    env_list,
    env_path,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("DATA_DIR", BASE_DIR / "data")

DEBUG = env_bool("DEBUG", False)
# Only a debug (local) process may run on a well-known key; everywhere else it must be given.
SECRET_KEY = env_str(
    "SECRET_KEY",
    "django-insecure-local-development-only" if DEBUG else None,
    hint="it is required when DEBUG is off (set DEBUG=1 for local use)",
)
if not DEBUG and SECRET_KEY.startswith("django-insecure"):
    raise ImproperlyConfigured("SECRET_KEY must be a real secret when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "review",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "routing_app.urls"
WSGI_APPLICATION = "routing_app.wsgi.application"

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
                "review.context_processors.deployment",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_url("DATABASE_URL", schemes=("postgres", "postgresql", "sqlite"))
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60, minimum=0),
            conn_health_checks=True,
        )
    }
else:
    # SQLite creates the file but not its folder; the embedded default must start from nothing.
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "routing_review.sqlite3"),
            # WAL lets the dev server read while the demo loader or a task writes.
            "OPTIONS": {"init_command": "PRAGMA journal_mode=WAL;", "timeout": 20},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery ---------------------------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss"))
if DATABASE_URL and not REDIS_URL and not DEBUG:
    # A production database with tasks silently run inside web requests (and no scheduler) is a
    # misconfiguration, not a mode.
    raise ImproperlyConfigured("REDIS_URL must be set when DATABASE_URL is (production mode).")
# Embedded mode is chosen by configuration and shown on every page; it is never a silent
# fallback for a broker that is down.
EMBEDDED = DATABASE_URL is None and REDIS_URL is None
CELERY_TASK_ALWAYS_EAGER = REDIS_URL is None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_IGNORE_RESULT = True  # state lives in Postgres rows, not in Celery results
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
# Exports have their own queue so a deployment can give them a lean worker of their own (see
# docker-compose.yml): a worker that has scored prompts holds scikit-learn, about 100 MB more
# than an export needs. A worker started without -Q consumes both queues, so a single worker
# still runs everything.
CELERY_TASK_DEFAULT_QUEUE = "celery"
EXPORT_QUEUE = "exports"
CELERY_TASK_QUEUES = (Queue(CELERY_TASK_DEFAULT_QUEUE), Queue(EXPORT_QUEUE))
CELERY_TASK_ROUTES = {"review.tasks.run_export": {"queue": EXPORT_QUEUE}}
CELERY_BEAT_SCHEDULE = {
    # Gateways that do not log a cost, and models classified after their traffic arrived, leave
    # decisions without a tier or a cost; sweeping hourly keeps dashboard totals honest within
    # the hour, and catches a classification whose own task was lost.
    "sweep-catalog": {
        "task": "review.tasks.sweep_catalog",
        "schedule": crontab(minute=7),
        "options": {"expires": 50 * 60},
    },
    # Ingestion triggers processing after each commit; this catches the triggers that were lost
    # (broker restart, killed worker). Decisions wait at least a minute before a re-send.
    "sweep-pending-decisions": {
        "task": "review.tasks.sweep_pending_decisions",
        "schedule": 60,
        "options": {"expires": 50},
    },
    # Labels arrive through the week; a nightly model sees them all by the next morning. It is
    # adopted only where it beats the heuristic on held-out labels (and skipped below the
    # detector settings' minimum number of labels).
    # The weekly ritual: Monday morning, last week's round is ready for the team.
    "open-weekly-round": {
        "task": "review.tasks.open_weekly_round",
        "schedule": crontab(minute=0, hour=6, day_of_week=1),
        "options": {"expires": 6 * 60 * 60},
    },
    "train-detector": {
        "task": "review.tasks.train_detector",
        "schedule": crontab(minute=30, hour=3),
        "options": {"expires": 3 * 60 * 60},
    },
    # Finished exports keep their file EXPORT_RETENTION_DAYS; hourly is precise enough for a
    # retention counted in days, and frees the disk within the hour.
    "expire-exports": {
        "task": "review.tasks.expire_exports",
        "schedule": crontab(minute=17),
        "options": {"expires": 50 * 60},
    },
    # Export jobs whose trigger was lost, or whose worker died mid-file, are sent again; their
    # heartbeat is written with every chunk, so ten quiet minutes mean nobody is working on it.
    "sweep-exports": {
        "task": "review.tasks.sweep_exports",
        "schedule": 5 * 60,
        "options": {"expires": 4 * 60},
    },
    # Writers send a dashboard rollup refresh after their commit, at most one per
    # ROLLUP_REFRESH_SECONDS; this picks up the changes made later in that window and the days
    # whose refresh was lost (broker restart, killed worker), so the dashboard is never staler
    # than about two windows.
    "refresh-rollups": {
        "task": "review.tasks.refresh_rollups",
        "schedule": env_int("ROLLUP_REFRESH_SECONDS", 60, minimum=1),
        "options": {"expires": 50},
    },
}

# --- Cache: the API throttle's counters ---------------------------------------------------------
# Shared through Redis in production, so every web process counts the same requests.
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    if REDIS_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# --- Ingestion API ------------------------------------------------------------------------------
# Caps are enforced while the body is read, so an oversized or gzip-bomb body never sits in memory.
INGEST_MAX_BODY_BYTES = env_int("INGEST_MAX_BODY_BYTES", 16 * 1024 * 1024, minimum=1024)
INGEST_MAX_DECODED_BYTES = env_int("INGEST_MAX_DECODED_BYTES", 64 * 1024 * 1024, minimum=1024)
INGEST_MAX_RECORD_BYTES = env_int("INGEST_MAX_RECORD_BYTES", 512 * 1024, minimum=256)
INGEST_MAX_RECORDS = env_int("INGEST_MAX_RECORDS", 5000, minimum=1)
# Requests per key; DRF's rate syntax: "N/second", "N/minute", "N/hour".
INGEST_RATE = env_str("INGEST_RATE", "1200/minute")
REDACT_PATTERNS = [
    name
    for name in env_list("REDACT_PATTERNS", ["email", "phone", "card", "api_key"])
    if name != "none"
]
REDACT_EXTRA_PATTERNS = env_json_patterns("REDACT_EXTRA_PATTERNS")
# Phone numbers in national form (no +country prefix) are read as numbers of this region.
REDACT_PHONE_REGION = env_str("REDACT_PHONE_REGION", "US")

# --- Exports --------------------------------------------------------------------------------
# Files of finished exports. The worker writes them and the web process serves them, so in
# production both must see the same folder (a shared volume).
EXPORT_DIR = env_path("EXPORT_DIR", DATA_DIR / "exports")
EXPORT_RETENTION_DAYS = env_int("EXPORT_RETENTION_DAYS", 7, minimum=1)
# Decisions read per query while streaming an export: memory stays flat whatever the total,
# and progress (and a cancellation) is seen once per chunk.
EXPORT_CHUNK_ROWS = env_int("EXPORT_CHUNK_ROWS", 2000, minimum=1)

# --- Dashboard ----------------------------------------------------------------------------------
# Changes are rolled up at most this many seconds after they commit: a day is rebuilt whole
# (about a second for 55,000 decisions), so a busy today is rebuilt once a minute, not per batch.
ROLLUP_REFRESH_SECONDS = env_int("ROLLUP_REFRESH_SECONDS", 60, minimum=1)
# The PDF of a round's report is printed by headless Chromium from the web process.
CHROMIUM_BINARY = env_str("CHROMIUM_BINARY", "/usr/bin/chromium")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "review.api_errors.handle_exception",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Routing Review API",
    "DESCRIPTION": (
        "Gateways post routing decisions (our schema, LiteLLM's logging payload, OTLP traces) "
        "and late outcomes, and pull the active routing policy."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Docs pages use the vendored Swagger UI and ReDoc assets: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Auth, i18n, static ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Only a proxy that sets X-Forwarded-Proto itself may be trusted with it; a client talking to
# gunicorn directly could otherwise claim https.
if env_bool("TRUST_PROXY_HEADERS", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
