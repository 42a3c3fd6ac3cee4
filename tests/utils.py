"""Helpers: what is really stored (past row-level security), manage.py runs."""

import os
import subprocess
import sys
from pathlib import Path

from ownership.scope import system_scope
from tasks.models import Task

ROOT = Path(__file__).resolve().parent.parent


def stored_tasks(**filters) -> list[Task]:
    """Return every stored task matching `filters`, oldest first."""
    with system_scope():
        return list(Task.objects.filter(**filters).order_by("id"))


def stored_task(pk: int) -> Task:
    """Return the stored task `pk`."""
    with system_scope():
        return Task.objects.get(pk=pk)


def stored_row(pk: int) -> dict:
    """Return every column of the stored task `pk`."""
    with system_scope():
        return Task.objects.filter(pk=pk).values().get()


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
