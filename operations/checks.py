"""System checks for database settings that bite only in production.

Run by every manage.py command; ``manage.py check --deploy --fail-level
WARNING`` passes for the production settings documented in docs/neon.md
once their placeholder secret key is replaced (E002 refuses it).
"""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured

MISSING_SECRET_KEY = (
    "DJANGO_SECRET_KEY is not set; it is required when DJANGO_DEBUG is off "
    "(set DJANGO_DEBUG=true for local development)."
)

# Keys published in this repository: docs/neon.md's example, the test
# suite's and the development default. Anyone can read them, so a server
# signing sessions with one signs them for everyone.
# tests/operations/test_operations_settings.py checks that every
# DJANGO_SECRET_KEY=... in the docs, README.md, .env.example and scripts/
# is listed here.
PLACEHOLDER_SECRET_KEYS = frozenset(
    {
        "replace-with-50-or-more-random-characters-from-secrets-token-urlsafe",
        "insecure-test-only-secret-key-0123456789abcdef",
        "django-insecure-development-key-do-not-use-in-production",
    }
)
PLACEHOLDER_SECRET_KEY = (
    "DJANGO_SECRET_KEY is an example published in this project's docs; "
    'generate one with: python -c "import secrets; '
    'print(secrets.token_urlsafe(50))"'
)

LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1"}
SECURE_SSLMODES = {"require", "verify-ca", "verify-full"}


def _postgresql_databases():
    for alias, db in settings.DATABASES.items():
        if db.get("ENGINE") in {
            "django.db.backends.postgresql",
            "ownership.backends.postgresql",
        }:
            yield alias, db


def _is_pooler(host: str) -> bool:
    # Neon's pooled endpoints are ep-...-pooler.<region>.aws.neon.tech.
    return "-pooler" in host.split(".")[0]


@register("todoproject")
def check_connection_settings(app_configs=None, **kwargs):
    errors = []
    for alias, db in _postgresql_databases():
        options = db.get("OPTIONS", {})
        host = str(db.get("HOST") or "")
        if options.get("pool") and db.get("CONN_MAX_AGE"):
            errors.append(
                Warning(
                    f"Database {alias!r} has both a connection pool and "
                    f"CONN_MAX_AGE={db['CONN_MAX_AGE']}.",
                    hint="Django refuses the pair at the first query; set "
                    "DATABASE_CONN_MAX_AGE=0 when DATABASE_POOL=true.",
                    id="todoproject.W001",
                )
            )
        if _is_pooler(host) and not db.get("DISABLE_SERVER_SIDE_CURSORS"):
            errors.append(
                Warning(
                    f"Database {alias!r} is a pooled endpoint ({host}) but "
                    "server-side cursors are on.",
                    hint="Set DATABASE_DISABLE_SERVER_SIDE_CURSORS=true: in "
                    "transaction pooling a cursor does not survive its "
                    "transaction, and .iterator() fails.",
                    id="todoproject.W002",
                )
            )
        if _is_pooler(host) and options.get("options"):
            errors.append(
                Warning(
                    f"Database {alias!r} is a pooled endpoint ({host}) and sends "
                    "startup options, which PgBouncer refuses.",
                    hint="Unset DATABASE_STATEMENT_TIMEOUT (and any options= in "
                    "the URL) and set it on the role instead: ALTER ROLE ... "
                    "SET statement_timeout = '30s'.",
                    id="todoproject.W003",
                )
            )
    return errors


@register("todoproject", Tags.security)
def check_ssl(app_configs=None, **kwargs):
    if settings.DEBUG:
        return []
    errors = []
    for alias, db in _postgresql_databases():
        host = str(db.get("HOST") or "")
        if host in LOCAL_HOSTS or host.startswith("/"):
            continue
        sslmode = db.get("OPTIONS", {}).get("sslmode")
        if sslmode not in SECURE_SSLMODES:
            errors.append(
                Warning(
                    f"Database {alias!r} at {host} is reached without "
                    f"sslmode=require (sslmode={sslmode or 'unset'}).",
                    hint="Add ?sslmode=require (or verify-full) to DATABASE_URL; "
                    "Neon needs it.",
                    id="todoproject.W004",
                )
            )
    return errors


def secret_key_is_set() -> bool:
    try:
        return bool(settings.SECRET_KEY)
    except ImproperlyConfigured:  # Django refuses to hand out an empty key
        return False


def require_secret_key() -> None:
    """Refuse to serve requests without a secret key (wsgi, asgi, runserver)."""
    if not secret_key_is_set():
        raise ImproperlyConfigured(MISSING_SECRET_KEY)


@register(Tags.security, deploy=True)
def check_secret_key(app_configs=None, **kwargs):
    if not secret_key_is_set():
        return [Error(MISSING_SECRET_KEY, id="todoproject.E001")]
    if settings.SECRET_KEY.strip() in PLACEHOLDER_SECRET_KEYS:
        return [Error(PLACEHOLDER_SECRET_KEY, id="todoproject.E002")]
    return []
