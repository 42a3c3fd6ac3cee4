import ast
import importlib
import json
import sys
from io import StringIO
from pathlib import Path
from types import ModuleType

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

import ownership.policies
import tasks.search
from ownership.scope import system_scope
from tasks.models import DESCRIPTION_MAX_LENGTH, OWNED, Task
from tests.factories import TaskFactory, UserFactory
from tests.utils import ROOT, stored_tasks


@pytest.mark.django_db
def test_models_and_migrations_are_in_step():
    out = StringIO()

    # --check exits non-zero when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_tasks_migrations_reverse_and_reapply_on_a_database_with_data(as_owner):
    owner = UserFactory()
    TaskFactory.create_batch(3, owner=owner)

    call_command("migrate", "tasks", "zero", verbosity=0)
    assert Task._meta.db_table not in connection.introspection.table_names()

    call_command("migrate", verbosity=0)
    assert Task._meta.db_table in connection.introspection.table_names()
    # The schema works again and the users survived.
    TaskFactory(owner=owner)
    assert len(stored_tasks(owner=owner)) == 1


def foreign_key_actions() -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, confdeltype FROM pg_constraint "
            "WHERE confrelid = 'accounts_user'::regclass AND contype = 'f' "
            # DRF's token table, which the suite adds as an API would.
            "AND conrelid::regclass::text NOT LIKE 'authtoken\\_%%'"
        )
        return dict(cursor.fetchall())


def row_security() -> tuple[bool, bool]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE oid = 'tasks_task'::regclass"
        )
        return cursor.fetchone()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_database_enforcement_migrations_reverse_cleanly(as_owner):
    call_command("migrate", "accounts", "0001", verbosity=0)
    assert set(foreign_key_actions().values()) == {"a", "c"}
    assert foreign_key_actions()["tasks_task"] == "c"

    call_command("migrate", "tasks", "0001", verbosity=0)
    assert set(foreign_key_actions().values()) == {"a"}
    assert row_security() == (False, False)

    call_command("migrate", verbosity=0)
    assert set(foreign_key_actions().values()) == {"c"}
    assert row_security() == (True, True)


def created_index() -> tuple[str, bool] | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_indexdef(indexrelid), indisvalid FROM pg_index "
            "WHERE indexrelid = to_regclass('task_created_idx')"
        )
        return cursor.fetchone()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_a_failed_concurrent_index_build_is_rebuilt_by_the_next_migrate(as_owner):
    call_command("migrate", "tasks", "0003", verbosity=0)
    assert created_index() is None
    # What a build cancelled halfway leaves: an index of that name, not the
    # one the migration makes (PostgreSQL would also mark it INVALID).
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX task_created_idx ON tasks_task (title)")

    call_command("migrate", verbosity=0)

    definition, valid = created_index()
    assert definition.endswith("USING btree (created_at DESC, id DESC)")
    assert valid


# Constraints and policies of a database migrated before accounts.0002 and
# tasks.0002 traded their DO blocks for plain statements (which squawk can
# read): the statements must leave exactly what the loops left. Later
# migrations' changes are in the snapshot too (tasks/0008: the title and
# description CHECKs).
MIGRATED_SCHEMA = Path(__file__).parent / "data" / "migrated_schema.json"


def migrated_schema() -> dict[str, list]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conrelid::regclass::text, conname, contype::text, "
            "pg_get_constraintdef(oid), convalidated, condeferrable, condeferred "
            # PostgreSQL 18 also lists NOT NULL as constraints ('n'); the
            # snapshot comes from 15, and columns are not what changed.
            "FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
            "AND contype <> 'n' "
            # The search copy came after the DO blocks (tasks/0006).
            "AND conrelid::regclass::text <> 'tasks_task_search' "
            "AND (conrelid::regclass::text LIKE 'tasks\\_%%' "
            "OR conrelid::regclass::text LIKE 'accounts\\_%%' "
            "OR confrelid = 'accounts_user'::regclass) "
            # DRF's token table, which the suite adds as an API would.
            "AND conrelid::regclass::text NOT LIKE 'authtoken\\_%%'"
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT polrelid::regclass::text, polname, polcmd::text, polpermissive "
            "FROM pg_policy"
        )
        policies = cursor.fetchall()
        cursor.execute(
            "SELECT relname::text, relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE relname IN ('tasks_task', 'accounts_user')"
        )
        row_security = cursor.fetchall()
    return {
        "constraints": sorted(map(list, constraints)),
        "policies": sorted(map(list, policies)),
        "row_security": sorted(map(list, row_security)),
    }


@pytest.mark.postgresql
@pytest.mark.django_db
def test_constraints_and_policies_are_those_the_do_blocks_made():
    expected = json.loads(MIGRATED_SCHEMA.read_text())

    actual = migrated_schema()

    for key in expected:
        assert actual[key] == sorted(expected[key]), key


TASKS_0008 = importlib.import_module(
    "tasks.migrations.0008_invisible_titles_are_blank_and_descriptions_have_a_limit"
)


def check_constraints() -> dict[str, bool]:
    """Return {name: validated} of the CHECK constraints of tasks_task."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT conname, convalidated FROM pg_constraint "
            "WHERE conrelid = 'tasks_task'::regclass AND contype = 'c'"
        )
        return dict(cursor.fetchall())


def insert_raw(owner, title: str, description: str = "") -> None:
    """Insert a task as the owner in the system scope, past every validation."""
    with system_scope(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO tasks_task (title, description, completed, created_at, "
            "updated_at, owner_id) VALUES (%s, %s, false, now(), now(), %s)",
            [title, description, owner.pk],
        )


def stored_texts() -> list[tuple[str, int]]:
    with system_scope(), connection.cursor() as cursor:
        cursor.execute("SELECT title, length(description) FROM tasks_task ORDER BY id")
        return cursor.fetchall()


# What every migration runs, held in tests/data/migration_sql/ -----------
#
# A released migration never changes what it runs: the databases it has
# already run on would keep the old SQL while fresh ones got the new, with
# no migration to move them (it happened once: the policies' transaction
# stamp changed under tasks/0003). scripts/migration_sql.py writes down
# what each migration runs; these tests compare.

sys.path.insert(0, str(ROOT / "scripts"))

import migration_sql  # noqa: E402
from squawk_migrations import project_migrations  # noqa: E402

HOW_TO_HOLD = (
    "a released migration never changes what it runs: write a new migration "
    "instead. For a new migration, run `python scripts/migration_sql.py` "
    "(DATABASE_URL set to a PostgreSQL server) to write down what it runs"
)


def what_migrations_run() -> dict[Path, str]:
    """Return {held file: text} for every migration of the project, as of now."""
    files = {}
    for app_label, name in project_migrations():
        files.update(migration_sql.held_files(app_label, name))
    return files


# Outside a transaction: sqlmigrate refuses to write a concurrent index's
# SQL inside one, as migrate would refuse to run it.
@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_every_migration_runs_exactly_the_sql_held_for_it():
    files = what_migrations_run()
    held = set(migration_sql.HELD.glob("*/*"))

    found = migration_sql.differences(files)
    assert not found, "\n".join([HOW_TO_HOLD, *found])
    assert held - set(files) == set(), "held for a migration that is gone"


def module_from_text(name: str, text: str) -> ModuleType:
    module = ModuleType(name)
    module.__file__ = str(ROOT / (name.replace(".", "/") + ".py"))
    exec(compile(text, module.__file__, "exec"), module.__dict__)  # noqa: S102
    return module


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_0008_names_invisible_titles_and_keeps_long_descriptions(as_owner, caplog):
    call_command("migrate", "tasks", "0007", verbosity=0)
    owner = UserFactory()
    insert_raw(owner, "\u3164")
    insert_raw(owner, "\u2800" * 200)
    insert_raw(owner, "Visible", "x" * (DESCRIPTION_MAX_LENGTH + 1))
    insert_raw(owner, "Fine", "short")

    try:
        call_command("migrate", verbosity=0)

        assert stored_texts() == [
            ("(untitled)\u3164", 0),
            ("(untitled)" + "\u2800" * 190, 0),
            ("Visible", DESCRIPTION_MAX_LENGTH + 1),
            ("Fine", 5),
        ]
        assert check_constraints() == {
            "task_title_not_blank": True,
            "task_description_max_length": False,
        }
        assert "2 titles that showed nothing" in caplog.text
        assert "task_description_max_length stays NOT VALID" in caplog.text
        # Not validated, the CHECK still refuses every new long description.
        with pytest.raises(IntegrityError), transaction.atomic():
            insert_raw(owner, "New", "x" * (DESCRIPTION_MAX_LENGTH + 1))
    finally:
        call_command("migrate", verbosity=0)
        # docs/operations.md: shorten the long descriptions, then validate.
        with system_scope(), connection.cursor() as cursor:
            cursor.execute(
                "UPDATE tasks_task SET description = left(description, %s) "
                "WHERE length(description) > %s",
                [DESCRIPTION_MAX_LENGTH, DESCRIPTION_MAX_LENGTH],
            )
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE tasks_task VALIDATE CONSTRAINT task_description_max_length"
            )
    assert set(check_constraints().values()) == {True}


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "steps_done",
    [
        ["ADD_NOT_VALID"],
        ["ADD_NOT_VALID", "VALIDATE_TITLE"],
        ["ADD_NOT_VALID", "VALIDATE_TITLE", "VALIDATE_DESCRIPTION"],
        ["ADD_NOT_VALID", "VALIDATE_TITLE", "REPLACE_TITLE_CHECK"],
    ],
    ids=lambda steps: steps[-1],
)
def test_a_run_of_0008_that_failed_part_way_is_finished_by_migrate(
    as_owner, steps_done
):
    call_command("migrate", "tasks", "0007", verbosity=0)
    with connection.cursor() as cursor:
        for step in steps_done:
            cursor.execute(getattr(TASKS_0008, step))

    call_command("migrate", verbosity=0)

    assert check_constraints() == {
        "task_title_not_blank": True,
        "task_description_max_length": True,
    }
    owner = UserFactory()
    refused = pytest.raises(IntegrityError, match="task_title_not_blank")
    with refused, transaction.atomic():
        insert_raw(owner, "\u3164")


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_an_edit_of_the_live_policies_and_search_changes_no_migrations_sql(
    monkeypatch,
):
    # The edit that once went unnoticed, undone: the transaction stamp back
    # to now()::text; and the search copy's SQL renamed throughout.
    policies_text = (ROOT / "ownership" / "policies.py").read_text()
    edited = policies_text.replace(
        "(extract(epoch FROM now()) * 1000000)::bigint::text", "now()::text"
    )
    policies = module_from_text("ownership.policies", edited)
    edited_function = policies.create_staff_function(OWNED)
    assert edited_function != ownership.policies.create_staff_function(OWNED)
    monkeypatch.setitem(sys.modules, "ownership.policies", policies)
    monkeypatch.setattr(ownership, "policies", policies)
    search_text = (ROOT / "tasks" / "search.py").read_text()
    search = module_from_text(
        "tasks.search", search_text.replace("tasks_task_search", "tasks_task_copy")
    )
    assert search.CREATE != tasks.search.CREATE
    monkeypatch.setitem(sys.modules, "tasks.search", search)
    monkeypatch.setattr(tasks, "search", search)
    # Every migration module is imported again, under the edited modules.
    for name in [name for name in sys.modules if ".migrations.0" in name]:
        monkeypatch.delitem(sys.modules, name)

    files = what_migrations_run()

    found = migration_sql.differences(files)
    assert not found, "\n".join(["a migration runs live SQL", *found])


# Django's own modules; the project's operation classes (what they write
# is held above); what makemigrations itself names for a model's state
# (validators, managers), which writes no SQL, and a field class (the
# session key's, whose column type the held SQL holds); and Python's
# standard library (logging, contextlib), which is not the project's live
# code.
MAY_IMPORT = (
    "django",
    "ownership.operations",
    "tasks.validators",
    "accounts.models",
    "accounts.sessions",
    *sys.stdlib_module_names,
)


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found |= {node.module} if node.level == 0 else {"." * node.level}
    return found


def test_migrations_import_no_live_module_that_writes_sql():
    migrations = sorted(ROOT.glob("*/migrations/0*.py"))
    imported = {path.relative_to(ROOT): imported_modules(path) for path in migrations}

    assert migrations
    live = {
        str(path): sorted(
            name
            for name in names
            if not any(name == ok or name.startswith(f"{ok}.") for ok in MAY_IMPORT)
        )
        for path, names in imported.items()
    }
    assert {path: names for path, names in live.items() if names} == {}
