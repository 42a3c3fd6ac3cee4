#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import importlib
import os
import sys


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
        from operations.health.checks import describe_connect_error

        timeout = connection.settings_dict.get("OPTIONS", {}).get("connect_timeout")
        reason = describe_connect_error(exc, connection.settings_dict, timeout or 0)
        sys.exit(f"error: cannot reach the database: {reason}")


if __name__ == "__main__":
    main()
