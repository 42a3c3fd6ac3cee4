"""Configuration mistakes stop manage.py with one line naming the variable."""

import os
import re
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.utils import ROOT, clean_env, manage_py
from todoproject import env


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "mysqlx://user:pw@host/db",
            "DATABASE_URL has an unsupported scheme (mysqlx://)",
        ),
        ("garbage", "DATABASE_URL has an unsupported scheme (no scheme)"),
        (
            "postgres://user:pw@host:notaport/db",
            "DATABASE_URL is not a valid database URL",
        ),
        ("postgres://user:pw@host:5432", "DATABASE_URL names no database"),
        ("mysql://user:pw@host/db", "does not support"),
    ],
)
def test_malformed_database_url_is_one_clear_line(url, expected):
    result = manage_py("check", DATABASE_URL=url, DJANGO_SECRET_KEY="x" * 50)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "pw" not in lines[0]


MISSING_KEY = (
    "DJANGO_SECRET_KEY is not set; it is required when DJANGO_DEBUG is off "
    "(set DJANGO_DEBUG=true for local development)."
)


def test_commands_that_need_no_secret_run_without_one():
    result = manage_py(
        "makemigrations", "--check", "--dry-run", DATABASE_URL="sqlite://:memory:"
    )

    assert result.returncode == 0, result.stderr
    assert "No changes detected" in result.stdout


def test_runserver_without_a_secret_key_names_the_variable():
    result = manage_py("runserver", "--noreload", "127.0.0.1:0")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"CommandError: {MISSING_KEY}"]


@pytest.mark.parametrize("entry_point", ["todoproject.wsgi", "todoproject.asgi"])
def test_a_server_without_a_secret_key_refuses_to_start(entry_point):
    result = subprocess.run(
        [sys.executable, "-c", f"import {entry_point}"],
        cwd=ROOT,
        env={**clean_env(), "DJANGO_ENV_FILE": os.devnull},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"django.core.exceptions.ImproperlyConfigured: {MISSING_KEY}"
    )


def test_deploy_check_reports_a_missing_secret_key():
    result = manage_py("check", "--deploy", DATABASE_URL="sqlite://:memory:")

    assert result.returncode == 1
    assert f"(todoproject.E001) {MISSING_KEY}" in result.stderr


def test_debug_runs_without_a_secret_key():
    result = manage_py("check", DJANGO_DEBUG="true")

    assert result.returncode == 0, result.stderr


def test_bad_boolean_names_the_variable():
    result = manage_py("check", DJANGO_DEBUG="maybe")

    assert result.returncode == 1
    assert "DJANGO_DEBUG must be a boolean" in result.stderr


def test_allowed_hosts_come_from_the_environment():
    result = manage_py(
        "shell",
        "--no-imports",
        "-c",
        "from django.conf import settings; print(settings.ALLOWED_HOSTS)",
        DJANGO_SECRET_KEY="x" * 50,
        DJANGO_ALLOWED_HOSTS="todo.example.com, api.example.com",
    )

    assert result.stdout.strip() == "['todo.example.com', 'api.example.com']"


def derived_password(key_file) -> subprocess.CompletedProcess:
    return manage_py(
        "shell",
        "--no-imports",
        "-c",
        "from tasks.sample_data import derived_password; print(derived_password(1))",
        DJANGO_DEBUG="true",
        DJANGO_DEVELOPMENT_SECRET_KEY_FILE=str(key_file),
    )


def test_development_secret_key_is_made_once_per_checkout(tmp_path):
    key_file = tmp_path / "var" / "development-secret-key"

    first = derived_password(key_file)
    again = derived_password(key_file)
    elsewhere = derived_password(tmp_path / "other-checkout-key")

    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout
    assert first.stdout != elsewhere.stdout
    key = key_file.read_text().strip()
    assert key.startswith("django-insecure-")
    assert len(key) > 50
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert [path.name for path in key_file.parent.iterdir()] == [key_file.name]


def test_no_secret_key_constant_in_the_code():
    settings_py = (ROOT / "todoproject" / "settings.py").read_text()

    assert "django-insecure-development-key" not in settings_py


def test_an_unwritable_key_folder_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")

    result = manage_py(
        "check",
        DJANGO_DEBUG="true",
        DJANGO_DEVELOPMENT_SECRET_KEY_FILE=str(blocker / "key"),
    )

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Configuration error: cannot keep the development secret key in "
        f"{blocker / 'key'}: Not a directory; set DJANGO_SECRET_KEY instead"
    ]


def test_django_messages_are_logged_once_in_development():
    result = manage_py(
        "shell",
        "--no-imports",
        "-c",
        "import logging; "
        "logging.getLogger('django.utils.autoreload').info('Watching, once')",
        DJANGO_DEBUG="true",
    )

    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Watching, once") == 1


@pytest.mark.parametrize(
    ("parse", "raw", "message"),
    [
        (lambda: env.env_bool("X_FLAG"), "maybe", "X_FLAG must be a boolean"),
        (lambda: env.env_int("X_COUNT", 1), "ten", "X_COUNT must be an integer"),
        (
            lambda: env.env_int("X_COUNT", 1, minimum=1),
            "0",
            "X_COUNT must be at least 1, got 0.",
        ),
    ],
)
def test_environment_helpers_refuse_a_bad_value_naming_the_variable(
    monkeypatch, parse, raw, message
):
    monkeypatch.setenv("X_FLAG", raw)
    monkeypatch.setenv("X_COUNT", raw)

    with pytest.raises(ImproperlyConfigured, match=re.escape(message)):
        parse()


def test_environment_helpers_parse_what_the_settings_read(monkeypatch):
    monkeypatch.setenv("X_FLAG", " Yes ")
    monkeypatch.setenv("X_LIST", " a, ,b ")
    monkeypatch.delenv("X_COUNT", raising=False)

    assert env.env_bool("X_FLAG") is True
    assert env.env_list("X_LIST") == ["a", "b"]
    assert env.env_int("X_COUNT", 7) == 7
    assert env.database_from_url("X_URL", "sqlite:///x.sqlite3")["ENGINE"] == (
        env.SQLITE
    )
