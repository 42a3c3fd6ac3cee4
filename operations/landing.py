"""`/` on the development server: what runs, where to go, who is who.

DEBUG only: with DEBUG off `/` is a plain 404, so that no login is ever
shown outside development.
"""

from __future__ import annotations

import django
from django.conf import settings
from django.db import connection
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.http import require_safe

from tasks import sample_data


def describe(database: dict) -> str:
    """Say which server and database `database` (a settings dict) names."""
    name = database["NAME"]
    if database["ENGINE"].endswith("sqlite3"):
        return f"SQLite, {name}"
    host = database.get("HOST") or "the local socket"
    port = database.get("PORT") or 5432
    role = database.get("USER") or "the default role"
    return f"PostgreSQL, database {name} on {host}:{port} as {role}"


@require_safe
def landing(request):
    """Show the development server's landing page (DEBUG only)."""
    if not settings.DEBUG:
        raise Http404
    where = describe(connection.settings_dict)
    if settings.EMBEDDED_DATABASE:
        where += " (the project's embedded PostgreSQL)"
    replicas = [
        {"alias": alias, "where": describe(settings.DATABASES[alias])}
        for alias in getattr(settings, "DATABASE_REPLICAS", ())
    ]
    if settings.SAMPLE_USER_PASSWORD:
        password = None
    else:
        password = sample_data.derived_password(sample_data.DEFAULT_SEED)
    return render(
        request,
        "operations/landing.html",
        {
            "django_version": django.get_version(),
            "database": where,
            "replicas": replicas,
            "staff_username": sample_data.STAFF_USERNAME,
            "sample_username": sample_data.sample_username(1),
            "second_sample_username": sample_data.sample_username(2),
            "password": password,
        },
    )
