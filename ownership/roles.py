"""The runtime role: created when missing, and granted exactly what it needs.

``migrate`` runs as the owner of the schema; after it (``post_migrate``),
the role named by ``settings.DATABASE_RUNTIME_ROLE`` gets plain DML on the
application's tables and their sequences, read-only access to the
migration history (for the health check), and nothing else: it owns no
table, so it can neither lift nor alter a policy, and it is granted no role.
Grants are made afresh on every ``migrate``, so they follow new tables.

Any role may change its own session defaults (``ALTER ROLE CURRENT_USER
SET row_security = off``, ``debug_print_parse = on``, a 1 ms
``statement_timeout``), and they outlive every restart. So ``migrate`` also
resets the runtime role's: it removes every default the role could have set
itself, in any database, and sets the project's own again
(``settings.DATABASE_RUNTIME_ROLE_SETTINGS``). Defaults only a superuser may
set (``track_activities = off``, which ``make run`` sets) stay.
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.migrations.recorder import MigrationRecorder
from psycopg import sql

DML = sql.SQL("SELECT, INSERT, UPDATE, DELETE")


def grant_runtime_role(
    using: str, role: str | None = None, verbosity: int = 1, stdout=None
) -> None:
    """Create the runtime role when missing, reset its session defaults and
    grant it what it needs."""
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
    refused = reset_role_settings(using, role)
    stdout = stdout or sys.stdout
    if refused and verbosity >= 1:
        stdout.write(f"  Warning: {refused}\n")
    if verbosity >= 2:
        stdout.write(
            f"  Granted the runtime role {role} DML on {len(tables)} tables.\n"
        )


def project_role_settings() -> dict[str, str]:
    """Return the session defaults the project sets on the runtime role."""
    return dict(settings.DATABASE_RUNTIME_ROLE_SETTINGS)


def reset_role_settings(using: str, role: str) -> str | None:
    """Reset `role`'s session defaults to the project's own, in every database.

    Done as the role itself (``SET ROLE``, when the connected role is a
    member of it, as ``make run`` and ``make test`` make the owner), so that
    exactly what the role could have set on itself goes: a superuser's
    defaults (``track_activities = off``) stay. Otherwise straight, which
    needs ``CREATEROLE`` (and, from PostgreSQL 16, ``ADMIN OPTION`` on the
    role: its creator has it). Return None when done, else the one line
    that says why not.
    """
    connection = connections[using]
    rolname = sql.Identifier(role)
    own = project_role_settings()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_user, d.datname FROM pg_database d "
            "WHERE d.datname = current_database()"
        )
        me, database = cursor.fetchone()
        cursor.execute(
            "SELECT DISTINCT d.datname FROM pg_db_role_setting s "
            "JOIN pg_roles r ON r.oid = s.setrole "
            "JOIN pg_database d ON d.oid = s.setdatabase WHERE r.rolname = %s",
            [role],
        )
        databases = sorted({database, *(name for (name,) in cursor.fetchall())})
    errors = []
    for as_itself in (True, False):
        target = sql.SQL("CURRENT_USER") if as_itself else rolname
        statements = [sql.SQL("ALTER ROLE {} RESET ALL").format(target)]
        statements += [
            sql.SQL("ALTER ROLE {} IN DATABASE {} RESET ALL").format(
                target, sql.Identifier(name)
            )
            for name in databases
        ]
        statements += [
            sql.SQL("ALTER ROLE {} SET {} = {}").format(
                target, sql.Identifier(name), sql.Literal(value)
            )
            for name, value in own.items()
        ]
        try:
            with transaction.atomic(using), connection.cursor() as cursor:
                if as_itself:
                    cursor.execute(sql.SQL("SET LOCAL ROLE {}").format(rolname))
                for statement in statements:
                    cursor.execute(statement)
            return None
        except DatabaseError as exc:
            errors.append((str(exc).strip().splitlines() or [""])[0])
    return (
        f"cannot reset the session defaults of {role}: {me} may neither act as "
        f"it nor alter it ({errors[-1]}); as a superuser, once: "
        f"GRANT {role} TO {me}"
    )


def grant_after_migrate(
    sender, using: str, verbosity: int = 1, stdout=None, **kwargs
) -> None:
    """``post_migrate`` receiver: grant the runtime role on database `using`."""
    grant_runtime_role(using, verbosity=verbosity, stdout=stdout)
