"""migrate grants the runtime role exactly what it needs, and nothing else."""

import pytest
from django.db import connection

from ownership.roles import grant_runtime_role

pytestmark = pytest.mark.postgresql

PRIVILEGES = [
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
]


def privileges(role: str, table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p FROM unnest(%s::text[]) p WHERE has_table_privilege(%s, %s, p)",
            [PRIVILEGES, role, table],
        )
        return {p for (p,) in cursor.fetchall()}


@pytest.mark.django_db
def test_the_runtime_role_gets_plain_dml_and_reads_the_migration_history(settings):
    role = settings.DATABASE_RUNTIME_ROLE

    assert privileges(role, "tasks_task") == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert privileges(role, "accounts_user") == {"SELECT", "INSERT", "UPDATE", "DELETE"}
    assert privileges(role, "django_migrations") == {"SELECT"}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT has_database_privilege(%s, current_database(), 'TEMPORARY')",
            [role],
        )
        assert cursor.fetchone() == (False,)


@pytest.mark.django_db(transaction=True)
def test_granting_to_the_owner_itself_changes_nothing(as_owner):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (owner,) = cursor.fetchone()
    before = privileges(owner, "tasks_task")

    grant_runtime_role("default", role=owner)

    assert privileges(owner, "tasks_task") == before == set(PRIVILEGES)
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_database_privilege(current_database(), 'TEMP')")
        assert cursor.fetchone() == (True,)
