"""
Settings for todoproject.

Every value that differs between a laptop, CI and production is read from
the environment here, and only here. A ``.env`` file in the project directory
(or the file named by ``DJANGO_ENV_FILE``) is read first when it exists;
variables already set in the environment win. ``.env.example`` lists and
explains every variable.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from todoproject.env import (
    POSTGRESQL,
    SQLITE,
    database_from_url,
    development_secret_key,
    env_bool,
    env_int,
    env_list,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# DATABASE_URL set but empty in the environment (not in the env file, whose
# template has an empty line) is a mistake, typically DATABASE_URL=$(make -s
# db-url) with the embedded server stopped: it must not quietly mean SQLite.
_database_url_empty = os.environ.get("DATABASE_URL", None) is not None and not (
    os.environ["DATABASE_URL"].strip()
)

# DJANGO_ENV_FILE names another file to read; an empty value reads none.
_env_file = os.environ.get("DJANGO_ENV_FILE", str(BASE_DIR / ".env"))
if _env_file:
    load_dotenv(_env_file, override=False)

DEBUG = env_bool("DJANGO_DEBUG", default=False)

# Set by todoproject/asgi.py before the settings load: the connection
# defaults differ under ASGI (DATABASE_CONN_MAX_AGE, DATABASE_POOL).
SERVING_ASGI = os.environ.get("TODOPROJECT_ASGI") == "1"

# Unset with debug off, the key stays empty instead of being refused here:
# commands that need no secret (makemigrations, migrate, a build's
# collectstatic) still run, while whatever serves requests refuses to start
# with one line naming the variable (operations.checks.require_secret_key,
# called by wsgi.py, asgi.py and runserver; check --deploy reports it too).
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
# Development only, with no key set: one generated once per checkout and kept
# in this git-ignored file, so sessions and the derived sample and staff
# password survive restarts but differ between installations.
DEVELOPMENT_SECRET_KEY_FILE = Path(
    os.environ.get("DJANGO_DEVELOPMENT_SECRET_KEY_FILE", "")
    or BASE_DIR / "var" / "development-secret-key"
)


if not SECRET_KEY and DEBUG:
    SECRET_KEY = development_secret_key(DEVELOPMENT_SECRET_KEY_FILE)
# Earlier secret keys, comma-separated, during a rotation: sessions and
# password resets signed with them stay valid, and so do the database's
# scope keys derived from them (ownership/proofs.py).
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS")

ALLOWED_HOSTS = env_list(
    "DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else ""
)

INSTALLED_APPS = [
    # Operations (healthcheck, backup, /healthz). First, so that its
    # runserver, which insists on a secret key, replaces staticfiles' one.
    "operations",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "ownership",
    "accounts",
    "tasks",
]

# Django's database sessions, keyed by the digest of each session key: the
# runtime role reads the table, never a key (accounts/sessions.py).
SESSION_ENGINE = "accounts.sessions"

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "ownership.middleware.ActingUserMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "todoproject.urls"

# Django REST framework, for the API a project builds on this data layer (DRF
# is not a dependency here; without it this is an unused dict). The handler
# answers Task.DoesNotExist with 404, Django's ValidationError with 400 per
# field and ScopeConflict with 403 (ownership/drf.py). Keep it when adding
# keys of your own.
REST_FRAMEWORK = {"EXCEPTION_HANDLER": "ownership.drf.exception_handler"}

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

WSGI_APPLICATION = "todoproject.wsgi.application"

# Database
# DATABASE_URL unset: an SQLite file in the project directory, so that a
# newcomer needs nothing else. SQLite has none of the database-level
# guarantees described in docs/database.md; use PostgreSQL for anything real.
_database_url = os.environ.get("DATABASE_URL", "").strip()
if _database_url_empty:
    raise ImproperlyConfigured(
        "DATABASE_URL is set but empty (did `make -s db-url` fail? `make run` "
        "starts the embedded PostgreSQL); unset it to use the SQLite file"
    )
if _database_url:
    _default_db = database_from_url("DATABASE_URL", _database_url)
else:
    _default_db = {"ENGINE": SQLITE, "NAME": str(BASE_DIR / "db.sqlite3")}

if _default_db["ENGINE"] == POSTGRESQL:
    _default_db.update(
        # Seconds a connection stays open for reuse (0: one per request).
        # Reuse saves a TCP and TLS handshake per request, which is most of
        # a request's database time on Neon; health checks catch the
        # connections a suspended compute or a restart has closed.
        # Under ASGI (todoproject/asgi.py) every request has connection
        # objects of its own: kept open, they would pile up one per request
        # until the server refuses more, so there the pool replaces them.
        CONN_MAX_AGE=env_int("DATABASE_CONN_MAX_AGE", 0 if SERVING_ASGI else 60),
        # Check a reused connection before a request so a server restart or
        # an idle Neon compute costs a reconnect, not an error.
        CONN_HEALTH_CHECKS=env_bool("DATABASE_CONN_HEALTH_CHECKS", default=True),
        # Required behind PgBouncer in transaction mode (Neon's -pooler
        # endpoint): a server-side cursor would not survive its transaction.
        DISABLE_SERVER_SIDE_CURSORS=env_bool(
            "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
        ),
    )
    _options = _default_db.setdefault("OPTIONS", {})
    _options.setdefault(
        "connect_timeout", env_int("DATABASE_CONNECT_TIMEOUT", 10, minimum=1)
    )
    # Django 5.2's psycopg pool instead of one connection per thread; it
    # replaces CONN_MAX_AGE (which must then be 0, see todoproject.W001).
    if env_bool("DATABASE_POOL", default=SERVING_ASGI):
        _options["pool"] = {
            "min_size": env_int("DATABASE_POOL_MIN_SIZE", 2),
            "max_size": env_int("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
            # Seconds to wait for a free connection before an error.
            "timeout": env_int("DATABASE_POOL_TIMEOUT", 10, minimum=1),
        }
    # Milliseconds before the server cancels a statement, sent as a startup
    # option; PgBouncer refuses startup options, so behind a pooler set it on
    # the role instead (ALTER ROLE ... SET statement_timeout).
    _statement_timeout = env_int("DATABASE_STATEMENT_TIMEOUT", 0)
    if _statement_timeout:
        # Added to any options= the URL carries (Neon's endpoint=..., say).
        _options["options"] = " ".join(
            filter(
                None,
                [_options.get("options"), f"-c statement_timeout={_statement_timeout}"],
            )
        )

DATABASES = {"default": _default_db}

# Hot standbys of the primary (comma-separated URLs, same roles: the runtime
# role): one alias each, replica_1, replica_2, ..., and a router that sends a
# user's task reads there once the standby has replayed that user's last
# write (replicas/router.py). Unset: the primary alone.
DATABASE_REPLICAS = []
for _number, _url in enumerate(env_list("DATABASE_REPLICA_URLS"), 1):
    if _default_db["ENGINE"] != POSTGRESQL:
        raise ImproperlyConfigured(
            "DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL (streaming "
            "replicas of it)."
        )
    _replica = database_from_url("DATABASE_REPLICA_URLS", _url)
    # Like the primary's connection handling, and never a test database of
    # its own: in tests a replica is the primary's standby.
    _replica.update(
        {
            key: value
            for key, value in _default_db.items()
            if key.isupper()
            and key not in ("NAME", "USER", "PASSWORD", "HOST", "PORT", "ENGINE")
        },
        TEST={"MIRROR": "default"},
    )
    DATABASES[f"replica_{_number}"] = _replica
    DATABASE_REPLICAS.append(f"replica_{_number}")
# Every PostgreSQL database through the project's backend: Django's own,
# with each statement able to carry its acting user (ownership/scope.py),
# and these execute wrappers on every connection, outermost first.
DATABASE_EXECUTE_WRAPPERS = [
    "operations.slow_queries.log_slow_queries",
    "ownership.scope.statement_scope",
]
for _database in DATABASES.values():
    if _database["ENGINE"] == POSTGRESQL:
        _database["ENGINE"] = "ownership.backends.postgresql"
if DATABASE_REPLICAS:
    DATABASE_ROUTERS = ["replicas.router.ReplicaRouter"]
# Seconds a replica may lag before reads leave it out for a while.
DATABASE_REPLICA_MAX_LAG = env_int("DATABASE_REPLICA_MAX_LAG", 30, minimum=1)

# The role that serves requests on PostgreSQL: it owns nothing, and
# `migrate` (run as the owner) creates it when missing, as NOLOGIN, and
# grants it exactly the privileges the application needs. The web process
# logs in as this role, or as a login role that is a member of it.
DATABASE_RUNTIME_ROLE = os.environ.get("DATABASE_RUNTIME_ROLE", "").strip() or (
    "todoproject_app"
)
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", DATABASE_RUNTIME_ROLE):
    raise ImproperlyConfigured(
        "DATABASE_RUNTIME_ROLE must be a plain PostgreSQL role name (lower-case "
        f"letters, digits and underscores), got {DATABASE_RUNTIME_ROLE!r}."
    )

# The runtime role's own session defaults, which `migrate` sets after it
# resets every other one the role could have set on itself (and which the
# health check then accepts): timeouts only, as name=value pairs, e.g.
# "statement_timeout=30s,lock_timeout=5s". The way to give a pooled
# runtime role a statement timeout (PgBouncer refuses startup options).
_ROLE_SETTING_NAMES = {
    "statement_timeout",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
}
DATABASE_RUNTIME_ROLE_SETTINGS = {}
for _pair in env_list("DATABASE_RUNTIME_ROLE_SETTINGS"):
    _name, _equals, _value = (part.strip() for part in _pair.partition("="))
    if _name not in _ROLE_SETTING_NAMES or not re.fullmatch(r"[0-9]+[a-z]*", _value):
        raise ImproperlyConfigured(
            "DATABASE_RUNTIME_ROLE_SETTINGS must be name=value pairs, separated "
            f"by commas, of {', '.join(sorted(_ROLE_SETTING_NAMES))} and a "
            f"duration such as 30s; got {_pair!r}."
        )
    DATABASE_RUNTIME_ROLE_SETTINGS[_name] = _value

# Statements slower than this many milliseconds are logged (logger
# todoproject.slow_query) with their duration and SQL, never their
# parameters; 0 turns the log off. make test turns it off.
SLOW_QUERY_MS = env_int("DATABASE_SLOW_QUERY_MS", 500)

# Seconds a scope key that the secret key (or SECRET_KEY_FALLBACKS) no
# longer derives stays valid after the next migrate: processes still
# running with the old secret key keep working that long
# (ownership/proofs.py).
SCOPE_KEY_GRACE_SECONDS = env_int("DATABASE_SCOPE_KEY_GRACE_SECONDS", 3600)

# What a query of tasks with no scope in force does (it sees no row under
# row-level security): "warn" logs one warning per request, or per process
# outside requests (a manage.py shell); "error" raises UnscopedQuery (the
# test suite); "ignore".
UNSCOPED_QUERIES = os.environ.get("TODOPROJECT_UNSCOPED_QUERIES", "").strip() or "warn"
if UNSCOPED_QUERIES not in {"warn", "error", "ignore"}:
    raise ImproperlyConfigured(
        "TODOPROJECT_UNSCOPED_QUERIES must be warn, error or ignore, got "
        f"{UNSCOPED_QUERIES!r}."
    )

# Set by `make run` when it started the project's embedded PostgreSQL, so that
# the health check can say which database is in use.
EMBEDDED_DATABASE = env_bool("TODOPROJECT_EMBEDDED_DB", default=False)

# The password of the users that seed_sample_data makes; unset, the command
# derives one from the secret key and the seed and prints it.
SAMPLE_USER_PASSWORD = os.environ.get("SAMPLE_USER_PASSWORD", "")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation."
        "UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("DJANGO_TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# Security. Cookies are secure whenever debug is off; HTTPS redirects and
# HSTS depend on the deployment and come from the environment (docs/neon.md
# lists the production values that pass `check --deploy`).
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https")
    if env_bool("DJANGO_BEHIND_TLS_PROXY", default=False)
    else None
)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
# Container probes call /healthz and /livez over plain HTTP on the pod's
# address.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^livez$"]
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False
)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain"},
    },
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        name: {
            "handlers": ["console"],
            "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO"),
            "propagate": False,
        }
        # The slow-query log keeps its name, todoproject.slow_query.
        for name in ("todoproject", "operations", "ownership", "tasks", "accounts")
    }
    | {
        # Django's own messages once, in this format: its default handler
        # (in DEBUG) and the root's would print each twice, runserver's
        # "Watching for file changes" among them. django.server (the
        # request log) keeps its own handler.
        "django": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
