"""Helpers: what is really stored (past row-level security), manage.py runs."""

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import psycopg
from django.db import connection, connections

from accounts.models import User
from ownership.scope import acting_as, system_scope
from tasks.models import Task

ROOT = Path(__file__).resolve().parent.parent


def _as_owner() -> bool:
    """Whether this connection is the tables' owner, for whom the system
    scope shows every task; the runtime role sees nothing in it."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class "
            "WHERE oid = 'tasks_task'::regclass"
        )
        return cursor.fetchone()[0]


def stored_tasks(**filters) -> list[Task]:
    """Return every stored task matching `filters`, oldest first.

    As the runtime role, each user's in their own scope: the one way it may
    see them, and in the test's own transaction.
    """
    if _as_owner():
        with system_scope():
            return list(Task.objects.filter(**filters).order_by("id"))
    found = []
    for owner in User.objects.order_by("pk"):
        with acting_as(owner):
            found += Task.objects.filter(**filters).filter(owner=owner)
    return sorted(found, key=lambda task: task.pk)


def stored_task(pk: int) -> Task:
    """Return the stored task `pk`."""
    (task,) = stored_tasks(pk=pk)
    return task


def stored_row(pk: int) -> dict:
    """Return every column of the stored task `pk`."""
    task = stored_task(pk)
    return {field.attname: getattr(task, field.attname) for field in Task._meta.fields}


def connect(settings_dict: dict, **options) -> psycopg.Connection:
    """A plain psycopg connection, in autocommit, to a Django database's server."""
    return psycopg.connect(
        host=settings_dict["HOST"],
        port=settings_dict["PORT"],
        user=settings_dict["USER"],
        password=settings_dict["PASSWORD"],
        dbname=settings_dict["NAME"],
        autocommit=True,
        **options,
    )


def clean_env() -> dict[str, str]:
    """Return this environment without any DJANGO_* or DATABASE_* variable."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_"))
    }


def manage_py(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``manage.py`` in a child process with a clean configuration.

    The child sees none of the caller's DJANGO_* and DATABASE_* variables and
    no .env file, only `env`.
    """
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean_env(), "DJANGO_ENV_FILE": os.devnull, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@contextmanager
def default_database(settings_dict):
    """Point the default alias at `settings_dict` in every thread."""
    saved = connections.settings["default"]
    # The calling thread's connection object, put back untouched afterwards
    # (ConnectionHandler's item access: public API, per thread).
    saved_connection = connections["default"]
    connections.settings["default"] = settings_dict
    del connections["default"]
    try:
        yield
    finally:
        current = connections["default"]
        current.close()
        if settings_dict["OPTIONS"].get("pool"):
            current.close_pool()
        connections.settings["default"] = saved
        connections["default"] = saved_connection
