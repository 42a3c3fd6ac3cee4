"""The runtime role: created when missing, and granted exactly what it needs.

``migrate`` runs as the owner of the schema; after it (``post_migrate``),
the role named by ``settings.DATABASE_RUNTIME_ROLE`` gets plain DML on the
application's tables and their sequences, read-only access to the
migration history (for the health check), and nothing else: it owns no
table, so it can neither lift nor alter a policy, and it is granted no role.
Grants are made afresh on every ``migrate``, so they follow new tables.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connections
from django.db.migrations.recorder import MigrationRecorder
from psycopg import sql

DML = sql.SQL("SELECT, INSERT, UPDATE, DELETE")


def grant_runtime_role(using: str, role: str | None = None, verbosity: int = 1) -> None:
    """Create the runtime role when missing and grant it what it needs."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    role = role or settings.DATABASE_RUNTIME_ROLE
    rolname = sql.Identifier(role)
    tables = sorted(
        connection.introspection.django_table_names(
            only_existing=True, include_views=False
        )
    )
    history = MigrationRecorder.Migration._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        if cursor.fetchone()[0] == role:
            # One role that owns and serves (a benchmark, a quick trial):
            # nothing to grant, and revoking would strip the owner itself.
            # The health check fails such a serving role.
            return
        cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
        if cursor.fetchone() is None:
            # NOLOGIN: a deployment logs in as a member of it (or gives it
            # LOGIN and a password itself); migrate makes no password.
            cursor.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(rolname))
        cursor.execute("SELECT current_schema(), current_database()")
        schema, database = cursor.fetchone()
        for grantee in (sql.SQL("PUBLIC"), rolname):
            cursor.execute(
                sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM {}").format(
                    sql.Identifier(database), grantee
                )
            )
        cursor.execute(
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
                sql.Identifier(schema), rolname
            )
        )
        every = sql.SQL(", ").join(sql.Identifier(t) for t in [*tables, history])
        # Exactly these privileges, whatever was granted before.
        cursor.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(every, rolname))
        if tables:
            listed = sql.SQL(", ").join(sql.Identifier(t) for t in tables)
            cursor.execute(sql.SQL("GRANT {} ON {} TO {}").format(DML, listed, rolname))
        cursor.execute(
            sql.SQL("GRANT SELECT ON {} TO {}").format(sql.Identifier(history), rolname)
        )
        sequences = [
            sequence["name"]
            for sequence in connection.introspection.sequence_list()
            if sequence.get("name")
        ]
        if sequences:
            listed = sql.SQL(", ").join(sql.Identifier(s) for s in sequences)
            cursor.execute(
                sql.SQL("GRANT USAGE, SELECT ON SEQUENCE {} TO {}").format(
                    listed, rolname
                )
            )
    if verbosity >= 2:
        print(f"  Granted the runtime role {role} DML on {len(tables)} tables.")


def grant_after_migrate(sender, using: str, verbosity: int = 1, **kwargs) -> None:
    """``post_migrate`` receiver: grant the runtime role on database `using`."""
    grant_runtime_role(using, verbosity=verbosity)
