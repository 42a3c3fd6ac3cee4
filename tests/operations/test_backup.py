"""Backup and restore round trip, row-level security notwithstanding."""

import os
import stat
from io import StringIO
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

import operations.backup
from tests.factories import TaskFactory, UserFactory
from tests.utils import manage_py

# Backups are work no single user triggers: the owner runs them.
pytestmark = [
    pytest.mark.postgresql,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("as_owner"),
]

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


def restore_into(dbname: str, dump_file: Path, url: str | None = None):
    return manage_py(
        "restore",
        str(dump_file),
        DATABASE_URL=url or url_for(dbname),
        DATABASE_RUNTIME_ROLE=settings.DATABASE_RUNTIME_ROLE,
        DJANGO_SECRET_KEY="x" * 50,
    )


def with_database(url: str, dbname: str) -> str:
    """Return `url` naming the database `dbname` instead."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{dbname}"))


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
    assert restored["posture"] == (True, True, 6, "c")


def test_restore_as_a_superuser_is_refused_in_one_line(tmp_path, empty_database):
    dump_file = tmp_path / "todo.dump"
    call_command("backup", output=dump_file, stdout=open(os.devnull, "w"))  # noqa: SIM115
    superuser = os.environ["TEST_SUPERUSER_DATABASE_URL"]

    result = restore_into(
        empty_database, dump_file, url=with_database(superuser, empty_database)
    )

    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("CommandError: ")
    assert line.endswith(
        " is a superuser: restore as the owner that migrates, or the "
        "SECURITY DEFINER functions would run as a superuser"
    )
    with psycopg.connect(url_for(empty_database), autocommit=True) as conn:
        assert conn.execute(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
        ).fetchone() == (0,)


def test_restore_puts_back_the_grants_and_revokes_and_is_healthy(
    tmp_path, empty_database
):
    TaskFactory(owner=UserFactory(username="alice"))
    dump_file = tmp_path / "todo.dump"
    call_command("backup", output=dump_file, stdout=open(os.devnull, "w"))  # noqa: SIM115

    result = restore_into(empty_database, dump_file)

    assert result.returncode == 0, result.stderr
    with psycopg.connect(url_for(empty_database), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT proname, has_function_privilege(%s, oid, 'EXECUTE'), "
            "pg_get_userbyid(proowner) = current_user FROM pg_proc "
            "WHERE proname LIKE 'todoproject%%' ORDER BY proname",
            [settings.DATABASE_RUNTIME_ROLE],
        ).fetchall()
    assert rows == [
        ("todoproject_acting_user", True, True),
        ("todoproject_guard_admin_log", False, True),
        ("todoproject_guard_staff_only", False, True),
        ("todoproject_guard_user", False, True),
        ("todoproject_staff_may", True, True),
        ("todoproject_staff_may_in", True, True),
        ("todoproject_system_may", True, True),
        ("todoproject_task_search_add", False, True),
        ("todoproject_task_search_empty", False, True),
        ("todoproject_task_search_forget", False, True),
        ("todoproject_task_search_remove", False, True),
        ("todoproject_task_search_rename", False, True),
        ("todoproject_tasks_titled", True, True),
    ]
    # Restore, then healthcheck as the runtime role: no migrate between.
    runtime = os.environ["TEST_RUNTIME_DATABASE_URL"]
    health = manage_py(
        "healthcheck",
        DATABASE_URL=with_database(runtime, empty_database),
        DATABASE_RUNTIME_ROLE=settings.DATABASE_RUNTIME_ROLE,
        DJANGO_SECRET_KEY="x" * 50,
    )
    assert health.returncode == 0, health.stdout + health.stderr


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


def backup(output) -> CommandError:
    """Run backup to `output`, which must fail; return the error."""
    with pytest.raises(CommandError) as excinfo:
        call_command("backup", output=output, stdout=StringIO())
    return excinfo.value


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_backup_is_readable_by_its_owner_only(tmp_path):
    dump_file = tmp_path / "todo.dump"
    old_umask = os.umask(0)
    try:
        call_command("backup", output=str(dump_file), stdout=StringIO())
    finally:
        os.umask(old_umask)

    assert mode(dump_file) == 0o600


def test_backup_is_private_while_pg_dump_writes_it(tmp_path, monkeypatch):
    seen = {}
    real_run = operations.backup.run

    def spying_run(command, env, **kwargs):
        seen.update({path.name: mode(path) for path in tmp_path.iterdir()})
        return real_run(command, env, **kwargs)

    monkeypatch.setattr("operations.backup.run", spying_run)

    call_command("backup", output=str(tmp_path / "todo.dump"), stdout=StringIO())

    assert len(seen) == 1
    ((name, partial_mode),) = seen.items()
    assert name.startswith("todo.dump.")
    assert name.endswith(".partial")
    assert partial_mode == 0o600
    assert [path.name for path in tmp_path.iterdir()] == ["todo.dump"]


@pytest.mark.parametrize("trailing_slash", [False, True])
def test_backup_to_an_existing_directory_is_one_line(tmp_path, trailing_slash):
    folder = tmp_path / "backups"
    folder.mkdir()
    output = str(folder) + ("/" if trailing_slash else "")

    error = backup(output)

    assert str(error) == f"cannot write the dump to {output}: it is a directory"
    assert error.returncode == 1
    assert list(tmp_path.rglob("*")) == [folder]


def test_backup_to_a_path_ending_in_a_slash_is_one_line(tmp_path):
    output = f"{tmp_path}/new-folder/"

    error = backup(output)

    assert str(error) == f"cannot write the dump to {output}: it is a directory"
    assert error.returncode == 1
    assert list(tmp_path.iterdir()) == []


def test_backup_into_a_missing_folder_is_one_line(tmp_path):
    output = tmp_path / "missing" / "todo.dump"

    error = backup(str(output))

    assert str(error) == (
        f"cannot write the dump to {output}: no folder {tmp_path / 'missing'}"
    )
    assert error.returncode == 1
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def unwritable_folder(tmp_path):
    """A folder this process may not create files in."""
    if os.geteuid() == 0:
        # root writes through any mode bits; sysfs refuses it all the same.
        if not Path("/sys").is_dir():
            pytest.skip("running as root without /sys: no folder is unwritable")
        yield Path("/sys")
        return
    folder = tmp_path / "locked"
    folder.mkdir(mode=0o500)
    yield folder
    folder.chmod(0o700)


def test_backup_into_a_folder_without_permission_is_one_line(unwritable_folder):
    output = unwritable_folder / "todo.dump"
    before = sorted(unwritable_folder.iterdir())

    error = backup(str(output))

    assert str(error) == f"cannot write the dump to {output}: Permission denied"
    assert error.returncode == 1
    assert sorted(unwritable_folder.iterdir()) == before


def test_failed_pg_dump_leaves_no_partial_file(tmp_path, monkeypatch):
    connection.ensure_connection()
    # pg_dump connects on its own, to a database that does not exist.
    monkeypatch.setitem(connection.settings_dict, "NAME", "no_such_database")

    error = backup(str(tmp_path / "todo.dump"))

    assert str(error).startswith("pg_dump failed: ")
    assert "no_such_database" in str(error)
    assert "\n" not in str(error)
    assert error.returncode == 1
    assert list(tmp_path.iterdir()) == []


def test_interrupted_backup_leaves_no_partial_file(tmp_path, monkeypatch):
    def interrupted(command, env, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("operations.backup.run", interrupted)

    with pytest.raises(KeyboardInterrupt):
        call_command("backup", output=str(tmp_path / "todo.dump"), stdout=StringIO())

    assert list(tmp_path.iterdir()) == []


def restore_error(dump_file) -> CommandError:
    with pytest.raises(CommandError) as excinfo:
        call_command("restore", str(dump_file), stdout=StringIO())
    return excinfo.value


def test_restore_of_a_directory_is_one_line(tmp_path):
    error = restore_error(tmp_path)

    assert str(error) == f"cannot read dump file {tmp_path}: it is a directory"
    assert error.returncode == 1
