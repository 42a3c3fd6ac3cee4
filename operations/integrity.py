"""What ``migrate`` installed that keeps tasks apart, recorded, compared, put back.

The policies, the ``SECURITY DEFINER`` functions (body, owner,
``search_path``, who may execute them), the triggers, row-level security
and the runtime role's privileges are read from the catalog as one map,
``item -> definition``, in PostgreSQL's own words (``pg_policies``,
``pg_get_functiondef``, ``pg_get_triggerdef``, the ACLs, ``has_*_privilege``).

Expected is what the current code's migrations install: the definitions of
``ownership.policies``, ``ownership.guards`` and ``tasks.search`` (which the
latest migrations hold). PostgreSQL spells them its own way, and differently
from one major version to the next; so rather than spell them here,
``migrate`` (as the owner, after every run) puts them back from the code's
SQL when anything differs from its record, reads the catalog, and records
that map, with a digest of the code's SQL, in ``todoproject_integrity``: a
table the owner writes and the runtime role may only read. The health check,
as any role, reads the catalog the same way and compares: the same server
normalises both sides, whatever its version. A difference, a record made by
other code, or no record at all is drift (exit 4).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import connections, transaction
from django.db.migrations.executor import MigrationExecutor
from psycopg import sql

from ownership import guards, policies
from tasks import search
from tasks.models import OWNED

RECORD_TABLE = "todoproject_integrity"
# The record's item holding the digest of the code's SQL.
CODE_ITEM = "code"
# What the tables' privileges are read for.
TABLE_PRIVILEGES = (
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "TRUNCATE",
    "REFERENCES",
    "TRIGGER",
)

# Every object of the current schema that no extension owns (pg_trgm's
# functions live there too). One query for the owner and the checked role
# alike: parameters are the runtime role's name, twice.
CATALOG = """
WITH here AS (
    SELECT oid FROM pg_namespace WHERE nspname = current_schema()
), runtime AS (
    SELECT oid, rolname FROM pg_roles WHERE rolname = %(role)s
), rels AS (
    SELECT c.oid, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity
    FROM pg_class c
    WHERE c.relnamespace = (SELECT oid FROM here)
      AND c.relkind IN ('r', 'p', 'v', 'm', 'f', 'S')
      AND NOT EXISTS (
          SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
          AND d.objid = c.oid AND d.deptype = 'e')
), funcs AS (
    SELECT p.oid, p.proname, p.proowner, p.proacl
    FROM pg_proc p
    WHERE p.pronamespace = (SELECT oid FROM here) AND p.prokind IN ('f', 'p')
      AND NOT EXISTS (
          SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
          AND d.objid = p.oid AND d.deptype = 'e')
)
SELECT 'policy ' || p.policyname || ' on ' || p.tablename,
    concat_ws(' ', p.permissive, 'FOR', p.cmd, 'TO', p.roles::text,
              'USING', p.qual, 'WITH CHECK', p.with_check)
FROM pg_policies p WHERE p.schemaname = current_schema()
UNION ALL
SELECT 'row-level security of ' || c.relname,
    concat_ws(' ', 'enabled', c.relrowsecurity, 'forced', c.relforcerowsecurity)
FROM rels c WHERE c.relkind IN ('r', 'p')
UNION ALL
SELECT 'function ' || f.proname || '('
        || pg_get_function_identity_arguments(f.oid) || ')',
    concat_ws(E'\\n', pg_get_functiondef(f.oid),
              'owner ' || pg_get_userbyid(f.proowner),
              'acl ' || coalesce(f.proacl::text, 'default'),
              'executable by the runtime role ' || coalesce((
                  SELECT has_function_privilege(r.oid, f.oid, 'EXECUTE')::text
                  FROM runtime r), 'no role'))
FROM funcs f
UNION ALL
SELECT 'trigger ' || t.tgname || ' on ' || c.relname,
    pg_get_triggerdef(t.oid) || ' enabled ' || t.tgenabled::text
FROM pg_trigger t JOIN rels c ON c.oid = t.tgrelid
WHERE NOT t.tgisinternal
UNION ALL
SELECT 'privileges of ' || r.rolname || ' on ' || c.relname,
    coalesce(string_agg(privilege, ',' ORDER BY privilege), 'none')
FROM rels c CROSS JOIN runtime r
LEFT JOIN LATERAL (
    SELECT privilege FROM unnest(%(table_privileges)s::text[]) privilege
    WHERE c.relkind <> 'S' AND has_table_privilege(r.oid, c.oid, privilege)
    UNION ALL
    SELECT privilege FROM unnest(ARRAY['USAGE', 'SELECT', 'UPDATE']) privilege
    WHERE c.relkind = 'S' AND has_sequence_privilege(r.oid, c.oid, privilege)
) granted ON true
GROUP BY r.rolname, c.relname
UNION ALL
SELECT 'privileges of ' || r.rolname || ' on the schema and database',
    concat_ws(' ',
        'schema usage', has_schema_privilege(r.oid, (SELECT oid FROM here), 'USAGE'),
        'create', has_schema_privilege(r.oid, (SELECT oid FROM here), 'CREATE'),
        'database create', has_database_privilege(r.oid, current_database(), 'CREATE'),
        'temporary', has_database_privilege(r.oid, current_database(), 'TEMPORARY'))
FROM runtime r
UNION ALL
SELECT 'roles ' || r.rolname || ' belongs to',
    coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname)
              FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
              WHERE m.member = r.oid), 'none')
FROM runtime r
"""


def definitions_sql() -> str:
    """Return the SQL that installs the policies, functions and triggers anew.

    The code's own statements, as the latest migrations run them, minus the
    search copy's table and index (which hold data and are not dropped).
    """
    marker = f"CREATE FUNCTION {search.SEARCH_FUNCTION}("
    head, found, functions = search.CREATE.partition(marker)
    if not found or "CREATE TABLE" not in head:
        raise RuntimeError(f"tasks.search.CREATE no longer holds {marker!r}")
    return "\n".join(
        [
            policies.create_staff_function(OWNED),
            guards.create_account_guards(),
            found + functions,
            policies.enable_row_security(OWNED),
            policies.create_policies(OWNED),
        ]
    )


def code_digest() -> str:
    """Return a digest of the SQL that this code installs."""
    return hashlib.sha256(definitions_sql().encode()).hexdigest()


def read_catalog(cursor, role: str) -> dict[str, str]:
    """Return the catalog's ``item -> definition`` map, privileges for `role`."""
    cursor.execute(CATALOG, {"role": role, "table_privileges": list(TABLE_PRIVILEGES)})
    return dict(cursor.fetchall())


def read_record(cursor) -> dict[str, str] | None:
    """Return the recorded map (with the code digest), or None without one."""
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [RECORD_TABLE])
    if not cursor.fetchone()[0]:
        return None
    cursor.execute(
        sql.SQL("SELECT item, definition FROM {}").format(sql.Identifier(RECORD_TABLE))
    )
    return dict(cursor.fetchall())


def differences(recorded: dict[str, str], live: dict[str, str]) -> list[str]:
    """Return what differs between `recorded` and `live`, one phrase each."""
    found = []
    for item in sorted(recorded.keys() | live.keys()):
        if item == CODE_ITEM:
            continue
        if item not in live:
            found.append(f"{item} is missing")
        elif item not in recorded:
            found.append(f"{item} is not one migrate installed")
        elif recorded[item] != live[item]:
            found.append(f"{item} differs from what migrate installed")
    return found


def fully_migrated(using: str) -> bool:
    """Whether every migration of the project is applied on `using`."""
    executor = MigrationExecutor(connections[using])
    return not executor.migration_plan(executor.loader.graph.leaf_nodes())


def _drop_installed(cursor) -> None:
    """Drop the policies, triggers and functions that `definitions_sql` makes.

    Every one of the current schema, the project's or not, so that what
    was added by hand goes too: the schema is the project's.
    """
    cursor.execute(
        "SELECT format('DROP POLICY %I ON %s', polname, polrelid::regclass) "
        "FROM pg_policy WHERE polrelid IN (SELECT oid FROM pg_class "
        "WHERE relnamespace = current_schema()::regnamespace) "
        "UNION ALL SELECT format('DROP TRIGGER %I ON %I', t.tgname, c.relname) "
        "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE NOT t.tgisinternal "
        "AND c.relnamespace = current_schema()::regnamespace"
    )
    for (statement,) in cursor.fetchall():
        cursor.execute(statement)
    cursor.execute(
        "SELECT format('DROP FUNCTION %I(%s)', p.proname, "
        "pg_get_function_identity_arguments(p.oid)) FROM pg_proc p "
        "WHERE p.pronamespace = current_schema()::regnamespace "
        "AND p.prokind IN ('f', 'p') AND NOT EXISTS (SELECT FROM pg_depend d "
        "WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid "
        "AND d.deptype = 'e')"
    )
    for (statement,) in cursor.fetchall():
        cursor.execute(statement)


def _record(cursor, role: str) -> None:
    table = sql.Identifier(RECORD_TABLE)
    cursor.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} "
            "(item text PRIMARY KEY, definition text NOT NULL)"
        ).format(table)
    )
    cursor.execute(sql.SQL("REVOKE ALL ON {} FROM PUBLIC").format(table))
    cursor.execute(
        "SELECT current_user <> %s AND to_regrole(%s) IS NOT NULL", [role] * 2
    )
    if cursor.fetchone()[0]:
        rolname = sql.Identifier(role)
        cursor.execute(sql.SQL("REVOKE ALL ON {} FROM {}").format(table, rolname))
        cursor.execute(sql.SQL("GRANT SELECT ON {} TO {}").format(table, rolname))
    live = read_catalog(cursor, role)
    cursor.execute(sql.SQL("DELETE FROM {}").format(table))
    cursor.executemany(
        sql.SQL("INSERT INTO {} (item, definition) VALUES (%s, %s)").format(table),
        [*live.items(), (CODE_ITEM, code_digest())],
    )


def put_back(using: str, *, force: bool = False) -> list[str]:
    """Install the code's definitions again where they drifted; record them.

    Run as the owner, on a database where every migration is applied.
    Compare the catalog with the record; on any difference, a record made
    by other code, no record, or `force`, drop the policies, triggers and
    functions and install them from the code's SQL, in one transaction
    (the same statements as the migrations, so the same ACLs, owner and
    ``REVOKE``\\ s). Then record the catalog. Return what differed.
    """
    connection = connections[using]
    if connection.vendor != "postgresql":
        return []
    role = settings.DATABASE_RUNTIME_ROLE
    with transaction.atomic(using), connection.cursor() as cursor:
        # Fail fast rather than queue every request behind the lock.
        cursor.execute("SET LOCAL lock_timeout = '5s'")
        recorded = read_record(cursor)
        live = read_catalog(cursor, role)
        if recorded is None:
            found = ["no record of what migrate installed"]
        elif recorded.get(CODE_ITEM) != code_digest():
            found = ["the code's definitions changed"]
        else:
            found = differences(recorded, live)
        if found or force:
            _drop_installed(cursor)
            cursor.execute(definitions_sql())
            # The functions' SQL sets search_path for the transaction.
            cursor.execute("RESET search_path")
        if found or force or recorded != {**live, CODE_ITEM: code_digest()}:
            _record(cursor, role)
    return found


def put_back_after_migrate(
    sender, using: str, verbosity: int = 1, stdout=None, **kwargs
) -> None:
    """``post_migrate`` receiver: put back what drifted, once all is migrated.

    Connected for the last app that ``migrate`` signals (``tasks``), so the
    runtime role's grants (``ownership``'s receiver) come first. A database
    migrated part of the way (``migrate tasks 0002``) is left as it is.
    """
    if kwargs.get("plan") is None:
        # flush (after a transactional test, say) changes no definition.
        return
    if connections[using].vendor != "postgresql" or not fully_migrated(using):
        return
    found = put_back(using)
    if found and verbosity >= 1 and stdout is not None:
        stdout.write(f"  Installed the definitions again: {found[0]}.\n")
