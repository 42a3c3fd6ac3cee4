"""Connection settings, the system checks that guard them, the slow-query log."""

import logging
import re
import secrets
from pathlib import Path

import pytest
from django.db import connection

from operations.checks import PLACEHOLDER_SECRET_KEY, PLACEHOLDER_SECRET_KEYS
from tests.utils import manage_py

ROOT = Path(__file__).resolve().parents[2]
NEON = "ep-cool-darkness-123456-pooler.eu-central-1.aws.neon.tech"


def production_env() -> dict[str, str]:
    """Return the production settings block of docs/neon.md."""
    text = (ROOT / "docs" / "neon.md").read_text()
    block = text.split("## Production settings", 1)[1].split("```sh\n", 1)[1]
    block = block.split("```", 1)[0]
    return dict(line.split("=", 1) for line in block.strip().splitlines())


def test_documented_production_settings_pass_the_deploy_checks_with_a_real_key():
    env = {**production_env(), "DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}

    result = manage_py("check", "--deploy", "--fail-level", "WARNING", **env)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_documented_placeholder_key_fails_the_deploy_check():
    result = manage_py(
        "check", "--deploy", "--fail-level", "WARNING", **production_env()
    )

    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "todoproject." in line]
    assert errors == [f"?: (todoproject.E002) {PLACEHOLDER_SECRET_KEY}"]


def test_a_placeholder_key_only_fails_the_deploy_check():
    result = manage_py("check", **production_env())

    assert result.returncode == 0, result.stderr


def published_secret_keys() -> set[str]:
    """Return every DJANGO_SECRET_KEY value written in the docs and examples."""
    files = [
        ROOT / "README.md",
        ROOT / ".env.example",
        *(ROOT / "docs").glob("*.md"),
        *(ROOT / "scripts").glob("*.sh"),
    ]
    keys = set()
    for path in files:
        for value in re.findall(
            r"DJANGO_SECRET_KEY=[\"']?(?:\$\{DJANGO_SECRET_KEY:-)?([^\s\"'}]*)",
            path.read_text(),
        ):
            keys.add(value)
    return keys - {"", "$DJANGO_SECRET_KEY"}


def test_every_published_secret_key_is_refused():
    published = published_secret_keys()

    assert "replace-with-50-or-more-random-characters-from-secrets-token-urlsafe" in (
        published
    )
    assert published <= PLACEHOLDER_SECRET_KEYS, sorted(
        published - PLACEHOLDER_SECRET_KEYS
    )


def test_every_variable_in_the_docs_is_in_env_example():
    documented = set(
        re.findall(
            r"^#? ?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M
        )
    )
    for doc in ("docs/neon.md", "docs/operations.md"):
        named = set(
            re.findall(
                r"\b((?:DJANGO|DATABASE)_[A-Z0-9_]+)\b", (ROOT / doc).read_text()
            )
        )
        assert named <= documented, f"{doc}: {sorted(named - documented)}"


@pytest.mark.parametrize(
    ("env", "check_id"),
    [
        ({"DATABASE_POOL": "true", "DATABASE_CONN_MAX_AGE": "60"}, "todoproject.W001"),
        ({"DATABASE_DISABLE_SERVER_SIDE_CURSORS": "false"}, "todoproject.W002"),
        ({"DATABASE_STATEMENT_TIMEOUT": "30000"}, "todoproject.W003"),
        (
            {
                "DATABASE_URL": "postgres://u:p@db.example.com/todo",
                "DJANGO_DEBUG": "false",
            },
            "todoproject.W004",
        ),
    ],
)
def test_risky_database_settings_are_reported(env, check_id):
    settings = {
        **production_env(),
        "DATABASE_DISABLE_SERVER_SIDE_CURSORS": "true",
        **env,
    }

    result = manage_py("check", "--fail-level", "WARNING", **settings)

    assert result.returncode == 1
    assert check_id in result.stderr
    assert "password" not in result.stderr


def test_pool_settings_reach_django():
    result = manage_py(
        "shell",
        "--no-imports",
        "-c",
        "from django.db import connection as c; "
        "print(c.settings_dict['OPTIONS']['pool'], c.settings_dict['CONN_MAX_AGE'])",
        DJANGO_DEBUG="true",
        DATABASE_URL="postgres://u:p@localhost/todo",
        DATABASE_POOL="true",
        DATABASE_POOL_MAX_SIZE="4",
        DATABASE_CONN_MAX_AGE="0",
    )

    assert result.stdout.strip() == "{'min_size': 2, 'max_size': 4, 'timeout': 10} 0"


@pytest.mark.django_db
def test_slow_statements_are_logged_without_parameters(settings, caplog):
    settings.SLOW_QUERY_MS = 1
    caplog.set_level(logging.WARNING, logger="todoproject.slow_query")
    sleep = "SELECT pg_sleep(0.01), %s" if connection.vendor == "postgresql" else None
    if sleep is None:
        # SQLite: a recursive query long enough to pass 1 ms.
        sleep = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            "WHERE i < 200000) SELECT count(*), %s FROM n"
        )

    with connection.cursor() as cursor:
        cursor.execute(sleep, ["alice@example.com"])

    (record,) = caplog.records
    assert record.getMessage().startswith("slow query on default: ")
    assert "%s" in record.getMessage()
    assert "alice@example.com" not in record.getMessage()


@pytest.mark.django_db
def test_fast_statements_are_not_logged(settings, caplog):
    settings.SLOW_QUERY_MS = 10_000
    caplog.set_level(logging.WARNING, logger="todoproject.slow_query")

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")

    assert caplog.records == []
