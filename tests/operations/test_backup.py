"""Backup and restore round trip, row-level security notwithstanding."""

import os
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from tests.factories import TaskFactory, UserFactory
from tests.utils import manage_py

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
TABLES = ["accounts_user", "tasks_task"]


def url_for(dbname: str) -> str:
    db = connection.settings_dict
    return (
        f"postgres://{quote(db['USER'], safe='')}:{quote(db['PASSWORD'], safe='')}"
        f"@{db['HOST']}:{db['PORT']}/{dbname}"
    )


def fingerprint(dbname: str) -> dict:
    """Count and checksum every row of the app's tables, plus the posture."""
    with psycopg.connect(
        url_for(dbname), options="-c todoproject.system=on", autocommit=True
    ) as conn:
        result = {}
        for table in TABLES:
            result[table] = conn.execute(
                f"SELECT count(*), md5(string_agg(t::text, ',' ORDER BY t.id)) "
                f"FROM {table} t"
            ).fetchone()
        result["posture"] = conn.execute(
            "SELECT c.relrowsecurity, c.relforcerowsecurity, "
            "(SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid), "
            "(SELECT confdeltype FROM pg_constraint k "
            " WHERE k.conrelid = c.oid AND k.contype = 'f') "
            "FROM pg_class c WHERE c.oid = 'tasks_task'::regclass"
        ).fetchone()
        result["check"] = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE conname = 'task_title_not_blank'"
        ).fetchone()
    return result


@pytest.fixture
def empty_database():
    name = f"{connection.settings_dict['NAME']}_restore"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cursor.execute(f'CREATE DATABASE "{name}"')
    yield name
    with connection.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def restore_into(dbname: str, dump_file: Path):
    return manage_py(
        "restore",
        str(dump_file),
        DATABASE_URL=url_for(dbname),
        DJANGO_SECRET_KEY="x" * 50,
    )


def test_backup_then_restore_into_an_empty_database_is_identical(
    tmp_path, empty_database
):
    for name in ("alice", "bob"):
        owner = UserFactory(username=name)
        TaskFactory.create_batch(3, owner=owner)
    dump_file = tmp_path / "todo.dump"

    call_command("backup", output=dump_file, stdout=open(os.devnull, "w"))  # noqa: SIM115
    result = restore_into(empty_database, dump_file)

    assert result.returncode == 0, result.stderr
    original = fingerprint(connection.settings_dict["NAME"])
    restored = fingerprint(empty_database)
    assert original["tasks_task"][0] == 6
    assert restored == original
    assert restored["posture"] == (True, True, 2, "c")


def test_restore_refuses_a_database_that_is_not_empty(tmp_path):
    dump_file = tmp_path / "todo.dump"
    call_command("backup", output=dump_file, stdout=open(os.devnull, "w"))  # noqa: SIM115

    with pytest.raises(CommandError, match="is not empty") as excinfo:
        call_command("restore", str(dump_file))

    assert excinfo.value.returncode == 1


def test_restore_of_a_missing_file_is_one_clear_line(tmp_path, empty_database):
    result = restore_into(empty_database, tmp_path / "nope.dump")

    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"CommandError: no such dump file: {tmp_path / 'nope.dump'}"
    ]
