"""T2J Workbench settings: everything comes from the environment (see .env.example).

Local defaults are safe and need nothing: SQLite beside the project, DEBUG off, a private key file.
`DJANGO_PRODUCTION=1` turns on the production posture (HTTPS-only cookies, HSTS, a required secret key).
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from t2j_site.env import env_bool, env_choice, env_float, env_int, env_list, env_str
from t2j_site.private_files import create_private_file

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("T2J_DATA_DIR", str(BASE_DIR / "var")))
# Database, secret key and caches: nobody else's business (a start-up check warns when it is open).
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)

DEBUG = env_bool("DJANGO_DEBUG", False)
PRODUCTION = env_bool("DJANGO_PRODUCTION", False)
MIN_SECRET_KEY_LENGTH = 50


def _secret_key() -> str:
    """The key from the environment, else (outside production) a private key file made on first use."""
    key = env_str("DJANGO_SECRET_KEY")
    if key:
        if len(key) < MIN_SECRET_KEY_LENGTH or len(set(key)) < 5:
            raise ImproperlyConfigured(
                f"DJANGO_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters with 5 distinct ones"
            )
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_PRODUCTION=1")
    key_file = Path(env_str("T2J_SECRET_KEY_FILE", str(DATA_DIR / "secret_key")))
    if key_file.exists():
        return key_file.read_text().strip()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    new_key = secrets.token_urlsafe(64)
    # O_EXCL + 0600: never readable by other users, never overwrite a key another process just wrote.
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(new_key)
    return new_key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_tasks",
    "django_tasks_db",
    "axes",
    "csp",
    "annotate",
    "evaluate",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "t2j_site.errors.refuse_nul_in_query",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Axes must come last so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "t2j_site.urls"
WSGI_APPLICATION = "t2j_site.wsgi.application"
ASGI_APPLICATION = "t2j_site.asgi.application"

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
                "annotate.roles.role_context",
            ],
            "builtins": ["template_partials.templatetags.partials"],
        },
    },
]


def _database() -> dict:
    url = env_str("DATABASE_URL") or f"sqlite:///{DATA_DIR / 'db.sqlite3'}"
    config = dj_database_url.parse(url, conn_max_age=env_int("T2J_DB_CONN_MAX_AGE", 0, minimum=0))
    if config["ENGINE"] == "django.db.backends.sqlite3":
        Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)
        # It holds session keys; its -wal and -shm files take its mode when SQLite creates them.
        create_private_file(Path(config["NAME"]))
        # WAL lets readers and one writer work at once; IMMEDIATE takes the write lock at BEGIN so a
        # read-then-write transaction waits on the busy timeout instead of failing "database is locked".
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": env_int("T2J_SQLITE_BUSY_TIMEOUT_S", 20, minimum=1),
            "init_command": (
                "PRAGMA journal_mode=WAL;"
                "PRAGMA synchronous=NORMAL;"
                f"PRAGMA busy_timeout={env_int('T2J_SQLITE_BUSY_TIMEOUT_S', 20, minimum=1) * 1000};"
                "PRAGMA foreign_keys=ON;"
            ),
        }
    return config


DATABASES = {"default": _database()}
# A cache every process shares (web and worker): the dashboard's filtered views, keyed by the data generation.
# A per-process memory cache would never see the worker's changes. `make migrate` creates its table.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "t2j_cache",
    },
    # Similar-fix rankings (annotate.similarity.ranked_steps), one per sample and index generation: a table of
    # their own, so an experiment over thousands of samples neither culls the dashboard's entries nor its own.
    "similarity": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "t2j_similarity_cache",
        "OPTIONS": {"MAX_ENTRIES": 10_000},
    },
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login lockout: after this many failures for one user name from one address, wait the cool-off.
AXES_FAILURE_LIMIT = env_int("T2J_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("T2J_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("DJANGO_TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Outside production WhiteNoise serves straight from the static folders, so no collectstatic is needed.
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG

# Hostile request bodies get a 400, not a slow death (RELIABILITY.md case 38).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("T2J_UPLOAD_MAX_MEMORY_BYTES", 5 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = 100
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE

# Security headers everywhere; transport-only settings in production.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = PRODUCTION and env_bool("T2J_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("T2J_HSTS_SECONDS", 31536000, minimum=0) if PRODUCTION else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
if env_bool("T2J_BEHIND_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Enforced CSP. Monaco's AMD build loads its modules and workers from our own origin and injects
# <style> elements at run time (hence 'unsafe-inline' for styles only); nothing else is allowed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:"],
        "font-src": [SELF, "data:"],
        "connect-src": [SELF],
        "worker-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    },
}

# Background work: Django's Tasks API (django-tasks backport) on the database queue.
TASKS = {
    "default": {
        "BACKEND": env_str("T2J_TASKS_BACKEND", "django_tasks_db.DatabaseBackend"),
    }
}

# Each task worker (`manage.py run_worker`) writes a heartbeat this often; one silent for 3 heartbeats is lost,
# and the job it ran and its queue row are marked failed.
T2J_WORKER_HEARTBEAT_S = env_float("T2J_WORKER_HEARTBEAT_S", 10.0, minimum=0.1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}

# --- LLM endpoint (any OpenAI-compatible server) -------------------------------------------------
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL")
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_MODEL = env_str("OPENAI_MODEL")
T2J_LLM_TIMEOUT_S = env_float("T2J_LLM_TIMEOUT_S", 120.0, minimum=1.0)
T2J_LLM_MAX_RETRIES = env_int("T2J_LLM_MAX_RETRIES", 4, minimum=0)
T2J_LLM_BACKOFF_S = env_float("T2J_LLM_BACKOFF_S", 1.0, minimum=0.0)
T2J_LLM_CONCURRENCY = env_int("T2J_LLM_CONCURRENCY", 4, minimum=1)
T2J_PROMPT_TOKEN_BUDGET = env_int("T2J_PROMPT_TOKEN_BUDGET", 12000, minimum=500)

# --- Sandbox ---------------------------------------------------------------------------------------
T2J_SANDBOX_ISOLATION = env_choice("T2J_SANDBOX_ISOLATION", "full", ("full", "reduced"))
T2J_SANDBOX_VENV = env_str("T2J_SANDBOX_VENV", "/opt/t2j-sandbox-venv")
T2J_SANDBOX_PYTHON = env_str("T2J_SANDBOX_PYTHON", "/usr/bin/python3.11")
T2J_SANDBOX_BWRAP = env_str("T2J_SANDBOX_BWRAP", "bwrap")
# XLA's CPU fusion emitters cost ~10 ms more per compile; eager programs compile one executable per op.
T2J_SANDBOX_XLA_FLAGS = env_str("T2J_SANDBOX_XLA_FLAGS", "--xla_cpu_use_fusion_emitters=false")
T2J_SANDBOX_UID_BASE = env_int("T2J_SANDBOX_UID_BASE", 62000, minimum=1000)
T2J_SANDBOX_UID_COUNT = env_int("T2J_SANDBOX_UID_COUNT", 64, minimum=1)
# Machine-wide, shared by every installation using the uid range (never inside DATA_DIR); empty: the
# default of annotate.sandbox.uids.lock_folder().
T2J_SANDBOX_UID_LOCK_DIR = env_str("T2J_SANDBOX_UID_LOCK_DIR", "")
T2J_RUN_WALL_S = env_float("T2J_RUN_WALL_S", 30.0, minimum=0.1)
T2J_RUN_CPU_S = env_int("T2J_RUN_CPU_S", 60, minimum=1)
# How far an admin may raise a sample's time limits (the paper capped its runs at 180 s).
T2J_RUN_MAX_WALL_S = env_float("T2J_RUN_MAX_WALL_S", 180.0, minimum=0.1)
T2J_RUN_MAX_CPU_S = env_int("T2J_RUN_MAX_CPU_S", 360, minimum=1)
# Per process. `import torch, torchvision, jax` maps ~4.7 GB and tensorflow ~6 GB of address space; the
# bound that matters is T2J_RUN_MEMORY_BYTES, the whole tree's real memory, kept by the watchdog.
T2J_RUN_ADDRESS_SPACE_BYTES = env_int("T2J_RUN_ADDRESS_SPACE_BYTES", 16 * 1024**3, minimum=1)
T2J_RUN_MEMORY_BYTES = env_int("T2J_RUN_MEMORY_BYTES", 6 * 1024**3, minimum=1)
T2J_RUN_NPROC = env_int("T2J_RUN_NPROC", 128, minimum=1)
# Pretrained-weight stand-ins are written into the working folder (resnet50: ~100 MB).
T2J_RUN_FILE_SIZE_BYTES = env_int("T2J_RUN_FILE_SIZE_BYTES", 128 * 1024**2, minimum=1)
T2J_RUN_OPEN_FILES = env_int("T2J_RUN_OPEN_FILES", 256, minimum=16)
T2J_RUN_DISK_BYTES = env_int("T2J_RUN_DISK_BYTES", 512 * 1024**2, minimum=1024**2)
T2J_RUN_OUTPUT_BYTES = env_int("T2J_RUN_OUTPUT_BYTES", 1024**2, minimum=1024)
# Synthetic stand-ins for standard datasets: examples per split (a sample may set its own).
T2J_STANDIN_TRAIN_EXAMPLES = env_int("T2J_STANDIN_TRAIN_EXAMPLES", 256, minimum=1)
T2J_STANDIN_TEST_EXAMPLES = env_int("T2J_STANDIN_TEST_EXAMPLES", 64, minimum=1)
# Plots a run brings back (PNG only, re-encoded by the host).
T2J_PLOTS_MAX_COUNT = env_int("T2J_PLOTS_MAX_COUNT", 16, minimum=0)
T2J_PLOTS_MAX_BYTES = env_int("T2J_PLOTS_MAX_BYTES", 1024**2, minimum=1024)
# Data files an admin attaches to a sample (read-only in the box's working folder).
T2J_SAMPLE_FILES_MAX_COUNT = env_int("T2J_SAMPLE_FILES_MAX_COUNT", 20, minimum=0)
T2J_SAMPLE_FILES_MAX_BYTES = env_int("T2J_SAMPLE_FILES_MAX_BYTES", 64 * 1024**2, minimum=0)
T2J_RUNNER_URLS = env_list("T2J_RUNNER_URLS", ["http://127.0.0.1:8765"])
MIN_RUNNER_TOKEN_LENGTH = 32


def _runner_token() -> str:
    """Shared secret between the web app and its runners; required for a runner on another host."""
    token = env_str("T2J_RUNNER_TOKEN").strip()
    if token and len(token) < MIN_RUNNER_TOKEN_LENGTH:
        raise ImproperlyConfigured(
            f"T2J_RUNNER_TOKEN must be at least {MIN_RUNNER_TOKEN_LENGTH} characters (openssl rand -hex 32)"
        )
    return token


T2J_RUNNER_TOKEN = _runner_token()
# Without T2J_RUNNER_TOKEN, a runner and a web app on one host share this token: 0600, made on first use.
T2J_RUNNER_TOKEN_FILE = Path(env_str("T2J_RUNNER_TOKEN_FILE", str(DATA_DIR / "runner_token")))
# Warm interpreters per run kind, and what each kind imports before it is ready.
T2J_RUNNER_POOL_SIZE = env_int("T2J_RUNNER_POOL_SIZE", 2, minimum=0)
T2J_RUNNER_PRELOAD = env_list("T2J_RUNNER_PRELOAD", ["jax", "jax.numpy"])
T2J_RUNNER_POOL_SIZE_PYTORCH = env_int("T2J_RUNNER_POOL_SIZE_PYTORCH", 1, minimum=0)
T2J_RUNNER_PRELOAD_PYTORCH = env_list("T2J_RUNNER_PRELOAD_PYTORCH", ["torch"])
T2J_RUNNER_POOL_SIZE_CONTRACT = env_int("T2J_RUNNER_POOL_SIZE_CONTRACT", 1, minimum=0)
T2J_RUNNER_PRELOAD_CONTRACT = env_list(
    "T2J_RUNNER_PRELOAD_CONTRACT", ["torch", "jax", "jax.numpy", "flax.linen", "optax", "t2j_contract.driver"]
)
# Batch runs of a system's translations: runs at a time through the runner.
T2J_BATCH_CONCURRENCY = env_int("T2J_BATCH_CONCURRENCY", 2, minimum=1)
T2J_COMPILE_CACHE_DIR = Path(env_str("T2J_COMPILE_CACHE_DIR", str(DATA_DIR / "compile-cache")))
# All users' compile caches together; past it the least recently used caches are deleted (a user's own
# cache holds at most 128 MiB).
T2J_COMPILE_CACHE_MAX_BYTES = env_int("T2J_COMPILE_CACHE_MAX_BYTES", 2 * 1024**3, minimum=1024**2)

# --- Workflow --------------------------------------------------------------------------------------
T2J_CLAIM_EXPIRY_HOURS = env_int("T2J_CLAIM_EXPIRY_HOURS", 48, minimum=1)
T2J_REVIEWERS_PER_PAIR = env_int("T2J_REVIEWERS_PER_PAIR", 2, minimum=1)
T2J_IMPORT_MAX_BYTES = env_int("T2J_IMPORT_MAX_BYTES", 50 * 1024 * 1024, minimum=1)
T2J_PAGE_SIZE = env_int("T2J_PAGE_SIZE", 25, minimum=1)
