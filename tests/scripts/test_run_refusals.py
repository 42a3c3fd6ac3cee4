"""What `make run` and manage.py refuse, each in one line and at once."""

from __future__ import annotations

import os
import socket
import subprocess
import time

import psycopg
import pytest

from tests.embedded_pg.embedded import (
    embedded,
    scratch_folder,
    start,
    stop_servers_in,
)
from tests.utils import ROOT, clean_env, manage_py

UNREACHABLE = "postgres://nobody@127.0.0.1:1/x"


def run_sh(**env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/run.sh"],
        cwd=ROOT,
        env={**clean_env(), "DJANGO_ENV_FILE": "", "DJANGO_DEBUG": "true", **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_make_run_with_an_unreachable_database_url_is_one_line():
    result = run_sh(DATABASE_URL=UNREACHABLE, RUN_PORT=str(free_port()))

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: cannot reach the database: connection refused at 127.0.0.1:1"
    ]
    assert "migrate" not in result.stdout


def test_make_run_refuses_a_taken_port_before_anything_else():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        started = time.monotonic()

        result = run_sh(DATABASE_URL=UNREACHABLE, RUN_PORT=str(port))

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"error: cannot serve on 127.0.0.1:{port}: address already in use; stop "
        "what uses it or choose another port, e.g. RUN_PORT=8001 make run"
    ]
    assert time.monotonic() - started < 10


@pytest.mark.parametrize("command", [["migrate"], ["showmigrations"]])
def test_manage_py_with_an_unreachable_database_is_one_line(command):
    result = manage_py(*command, DATABASE_URL=UNREACHABLE, DJANGO_SECRET_KEY="x" * 50)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: cannot reach the database: connection refused at 127.0.0.1:1"
    ]


def test_an_empty_database_url_never_falls_back_to_sqlite(tmp_path):
    result = manage_py("migrate", DATABASE_URL="", DJANGO_SECRET_KEY="x" * 50)

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "Configuration error: DATABASE_URL is set but empty (did `make -s db-url` "
        "fail? `make run` starts the embedded PostgreSQL); unset it to use the "
        "SQLite file"
    ]


def test_db_url_with_the_server_stopped_fails_and_prints_no_url(tmp_path):
    folder = tmp_path / "postgres"
    result = subprocess.run(
        ["make", "-s", "db-url"],
        cwd=ROOT,
        env={**os.environ, "RUN_PG_DIR": str(folder)},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == (
        f"error: no embedded PostgreSQL runs in {folder}; start it with: make run"
    )


def test_make_run_refuses_a_port_that_is_no_number():
    result = run_sh(DATABASE_URL=UNREACHABLE, RUN_PORT="eighty")

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: RUN_PORT must be a port number (1 to 65535), got 'eighty'"
    ]


CANCELLED_THEN_CLOSED = """
from django.db import connection
try:
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = 1")
        cursor.execute("SELECT pg_sleep(1)")
finally:
    connection.close()
"""


@pytest.mark.postgresql
def test_a_server_error_after_the_connection_closed_is_not_called_unreachable():
    # As a migration that hit its lock_timeout leaves it: the server's own
    # error, with its traceback, not "cannot reach the database".
    url = os.environ["TEST_SUPERUSER_DATABASE_URL"]  # Any reachable database.
    result = manage_py(
        "shell",
        "-c",
        CANCELLED_THEN_CLOSED,
        DATABASE_URL=url,
        DJANGO_SECRET_KEY="x" * 50,
    )

    assert result.returncode == 1
    assert "canceling statement due to statement timeout" in result.stderr
    assert "cannot reach the database" not in result.stderr


SQLITE_FILE = ROOT / "db.sqlite3"
COUNT_USERS = "from accounts.models import User; print(User.objects.count())"


@pytest.fixture
def no_sqlite_file():
    """The checkout's SQLite fallback file is absent (a developer's stays)."""
    if SQLITE_FILE.exists():
        pytest.skip(f"{SQLITE_FILE} exists: a developer's database, left alone")
    yield SQLITE_FILE
    assert not SQLITE_FILE.exists()


def test_manage_py_without_a_url_leaves_no_empty_sqlite_file(no_sqlite_file, tmp_path):
    result = manage_py(
        "shell", "-c", COUNT_USERS, DJANGO_DEBUG="true", RUN_PG_DIR=str(tmp_path)
    )

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"error: no such table: accounts_user in the SQLite file {no_sqlite_file}: "
        "run manage.py migrate, or set DATABASE_URL (make run's embedded "
        "PostgreSQL: DATABASE_URL=$(make -s db-url))"
    )
    assert not no_sqlite_file.exists()


@pytest.mark.postgresql
def test_manage_py_without_a_url_names_the_running_embedded_server(no_sqlite_file):
    base = scratch_folder("todoproject-manage-py-test-")
    folder = base / "postgres"
    try:
        url = start(folder, "--port", "0")
        port = psycopg.conninfo.conninfo_to_dict(url)["port"]

        result = manage_py("shell", DJANGO_DEBUG="true", RUN_PG_DIR=str(folder))
    finally:
        stop_servers_in(base)
        embedded("delete", folder, "--inside", base)
        base.rmdir()

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: DATABASE_URL is not set, and the embedded PostgreSQL of this "
        f"checkout runs on port {port} (make db-status); reach it with: "
        "DATABASE_URL=$(make -s db-url) .venv/bin/python manage.py shell "
        "(DATABASE_URL=sqlite:///db.sqlite3 makes the SQLite file)"
    ]
