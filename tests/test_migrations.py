import importlib
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from ownership.scope import system_scope
from tasks.models import DESCRIPTION_MAX_LENGTH, Task
from tests.factories import TaskFactory, UserFactory
from tests.utils import stored_tasks


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
            "WHERE confrelid = 'accounts_user'::regclass AND contype = 'f'"
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
            "OR confrelid = 'accounts_user'::regclass)"
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
