"""The health checks themselves, one function each.

Each takes the run (for its settings and report) and an open connection and
returns ``(status, detail, exit code if it failed)``; ``POSTGRESQL_CHECKS``
and ``SQLITE_CHECKS`` list them in the order they run. The helpers at the end
turn a connection error into the one line the command and the log show.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import DatabaseError
from django.db.migrations.executor import MigrationExecutor

from embedded_pg import CLUSTER_NAME
from operations import integrity
from ownership.roles import project_role_settings

from .report import HEALTHY, MIGRATIONS_PENDING, POSTURE_BROKEN, Status

if TYPE_CHECKING:
    from .runner import _Run

# A check returns (status, detail, exit code if it failed).
CheckResult = tuple[Status, str, int]


def _ok(detail: str) -> CheckResult:
    return Status.OK, detail, HEALTHY


def check_round_trip(run: _Run, connection) -> CheckResult:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return _ok("SELECT 1")


def check_postgresql_server(run: _Run, connection) -> CheckResult:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), current_database(), "
            "current_user, current_setting('cluster_name')"
        )
        version, database, role, cluster_name = cursor.fetchone()
    # "15.10 (Debian 15.10-0+deb12u1)": the number is what matters.
    run.report.server_version = version.split()[0]
    # The project's own server says so, however it is reached.
    run.report.embedded = run.report.embedded or cluster_name == CLUSTER_NAME
    return _ok(f"PostgreSQL {version}, database {database}, role {role}")


def check_sqlite_server(run: _Run, connection) -> CheckResult:
    with connection.cursor() as cursor:
        cursor.execute("SELECT sqlite_version()")
        (version,) = cursor.fetchone()
    run.report.server_version = version
    return _ok(f"SQLite {version}, file {connection.settings_dict['NAME']}")


def check_ssl(run: _Run, connection) -> CheckResult:
    # Asked of the client library, so it also holds behind PgBouncer, where
    # pg_stat_ssl would describe the pooler's own connection.
    if connection.connection.pgconn.ssl_in_use:
        return _ok("in use")
    if _is_local(run.settings_dict.get("HOST", "")):
        return _ok("not in use (local connection)")
    return (
        Status.WARN,
        f"not in use to {run.where}; add ?sslmode=require to the database URL",
        HEALTHY,
    )


def check_migrations(run: _Run, connection) -> CheckResult:
    pending = [
        f"{migration.app_label}.{migration.name}"
        for migration, _backwards in unapplied_migrations(connection)
    ]
    if not pending:
        return _ok("all applied")
    shown = ", ".join(pending[:3]) + (", ..." if len(pending) > 3 else "")
    count = len(pending)
    noun = "migration is" if count == 1 else "migrations are"
    return (
        Status.FAIL,
        f"{count} {noun} not applied ({shown}); run manage.py migrate",
        MIGRATIONS_PENDING,
    )


def unapplied_migrations(connection) -> list:
    """Return the plan that ``migrate`` would run on `connection`."""
    executor = MigrationExecutor(connection)
    return executor.migration_plan(executor.loader.graph.leaf_nodes())


def _task_table() -> tuple[str, str]:
    from tasks.models import Task

    return Task._meta.db_table, Task._meta.get_field("owner").column


def _owner_target() -> tuple[str, str]:
    """Return the table and column the task owner must reference."""
    from tasks.models import Task

    field = Task._meta.get_field("owner")
    return field.related_model._meta.db_table, field.target_field.column


def check_cascade(run: _Run, connection) -> CheckResult:
    table, column = _task_table()
    target_table, target_column = _owner_target()
    with connection.cursor() as cursor:
        # One row per foreign key on the owner column (one with NULLs when
        # there is none): its delete action, and whether it references the
        # users' primary key rather than any other table.
        cursor.execute(
            "SELECT t.oid IS NOT NULL, c.confdeltype, "
            "c.confrelid = u.oid AND c.confkey = ARRAY[k.attnum], "
            "c.confrelid::regclass::text "
            "FROM (SELECT to_regclass(%s) AS oid) t "
            "CROSS JOIN (SELECT to_regclass(%s) AS oid) u "
            "LEFT JOIN pg_attribute k ON k.attrelid = u.oid AND k.attname = %s "
            "LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = %s "
            "LEFT JOIN pg_constraint c ON c.conrelid = t.oid AND c.contype = 'f' "
            "AND c.conkey = ARRAY[a.attnum]",
            [
                connection.ops.quote_name(table),
                connection.ops.quote_name(target_table),
                target_column,
                column,
            ],
        )
        rows = cursor.fetchall()
    if [row[:3] for row in rows] == [(True, "c", True)]:
        return _ok(f"{table}.{column} is ON DELETE CASCADE")
    wrong_targets = sorted({row[3] for row in rows if row[2] is False})
    if rows == [(False, None, None, None)]:
        detail = f"{table} does not exist"
    elif rows == [(True, None, None, None)]:
        detail = f"{table}.{column} has no foreign key"
    elif wrong_targets:
        detail = (
            f"{table}.{column} references {', '.join(wrong_targets)}, "
            f"not {target_table}.{target_column}"
        )
    else:
        detail = f"{table}.{column} is not ON DELETE CASCADE in the database"
    return Status.FAIL, detail, POSTURE_BROKEN


def check_row_security(run: _Run, connection) -> CheckResult:
    table, _column = _task_table()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
            "WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(table)],
        )
        row = cursor.fetchone()
    if row == (True, True):
        return _ok(f"enabled and forced on {table}")
    if row is None:
        detail = f"{table} does not exist"
    elif row[0]:
        detail = f"enabled but not forced on {table}: its owner skips the policies"
    else:
        detail = f"not enabled on {table}: every role sees every task"
    return Status.FAIL, detail, POSTURE_BROKEN


def check_role(run: _Run, connection) -> CheckResult:
    """Fail when the connected role could see past or lift the policies.

    A superuser or ``BYPASSRLS`` role skips them; the owner of the tasks
    table (or any role that can act as it) may alter or drop them; so may a
    role that is a member of a superuser or ``BYPASSRLS`` role. A role that
    may create temporary tables could shadow the application's tables.
    """
    table, _column = _task_table()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.rolname, r.rolsuper, r.rolbypassrls, "
            "  (SELECT pg_get_userbyid(c.relowner) FROM pg_class c "
            "   WHERE c.oid = to_regclass(%s) "
            "   AND pg_has_role(r.oid, c.relowner, 'MEMBER')), "
            "  (SELECT string_agg(m.rolname, ', ' ORDER BY m.rolname) "
            "   FROM pg_roles m WHERE m.oid <> r.oid "
            "   AND (m.rolsuper OR m.rolbypassrls) "
            "   AND pg_has_role(r.oid, m.oid, 'MEMBER')), "
            "  has_database_privilege(r.oid, current_database(), 'TEMPORARY') "
            "FROM pg_roles r WHERE r.rolname = current_user",
            [connection.ops.quote_name(table)],
        )
        role, superuser, bypassrls, owner, privileged, temporary = cursor.fetchone()
    powers = []
    if superuser:
        powers.append("a superuser")
    if bypassrls:
        powers.append("BYPASSRLS")
    if owner == role:
        powers.append(f"the owner of {table}")
    elif owner:
        powers.append(f"a member of {owner}, the owner of {table}")
    if privileged:
        powers.append(f"a member of {privileged} (superuser or BYPASSRLS)")
    if temporary and not powers:
        # The owner may; a role that serves must not shadow the app's tables.
        detail = (
            f"{role} may create temporary tables, which can shadow the "
            "application's tables on its connection; run manage.py migrate "
            "as the owner (it revokes TEMPORARY)"
        )
        if run.allow_privileged_role:
            return Status.WARN, f"{detail} (allowed)", HEALTHY
        return Status.FAIL, detail, POSTURE_BROKEN
    if not powers:
        return _ok(f"{role} is subject to row-level security and owns no task table")
    detail = f"{role} is {' and '.join(powers)}: it can skip or lift row-level security"
    if run.allow_privileged_role:
        return Status.WARN, f"{detail} (allowed)", HEALTHY
    return Status.FAIL, detail, POSTURE_BROKEN


def check_definitions(run: _Run, connection) -> CheckResult:
    """Fail when the policies, functions, triggers or grants drifted.

    Compared with the record ``migrate`` made of them (operations.integrity):
    one line naming the first difference, and how many more there are.
    """
    role = settings.DATABASE_RUNTIME_ROLE
    with connection.cursor() as cursor:
        try:
            recorded = integrity.read_record(cursor)
        except DatabaseError as exc:
            return (
                Status.FAIL,
                f"cannot read what migrate installed ({first_line(exc, {})}); "
                "run manage.py migrate as the owner",
                POSTURE_BROKEN,
            )
        live = integrity.read_catalog(cursor, role)
    if recorded is None:
        found = ["no record of what migrate installed"]
    elif recorded.get(integrity.CODE_ITEM) != integrity.code_digest():
        found = [
            "the policies and functions of this code are not the ones migrate installed"
        ]
    else:
        found = integrity.differences(recorded, live)
    if not found:
        return _ok("policies, functions, triggers and grants as migrate installed")
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return (
        Status.FAIL,
        f"{found[0]}{more}; run manage.py migrate as the owner",
        POSTURE_BROKEN,
    )


def check_role_config(run: _Run, connection) -> CheckResult:
    """Fail when the serving role has session defaults the project did not set.

    ``ALTER ROLE CURRENT_USER SET row_security = off`` (or a 1 ms
    ``statement_timeout``, ``debug_print_parse = on``) needs no privilege
    and outlives restarts. Checked for the runtime role, and for the
    connected role unless it is privileged on purpose (the migration job's
    owner). Allowed: ``settings.DATABASE_RUNTIME_ROLE_SETTINGS`` and
    ``track_activities = off``, which ``make run`` sets.
    """
    roles = [settings.DATABASE_RUNTIME_ROLE]
    allowed = {f"{name}={value}" for name, value in project_role_settings().items()}
    allowed.add("track_activities=off")
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_user")
        (session_role,) = cursor.fetchone()
        if not run.allow_privileged_role and session_role not in roles:
            roles.append(session_role)
        cursor.execute(
            "SELECT r.rolname, s.setdatabase <> 0, setting "
            "FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
            "CROSS JOIN unnest(s.setconfig) setting "
            "WHERE r.rolname = ANY (%s) AND s.setdatabase IN (0, "
            "(SELECT oid FROM pg_database WHERE datname = current_database())) "
            "ORDER BY r.rolname, s.setdatabase, setting",
            [roles],
        )
        found = [row for row in cursor.fetchall() if row[2] not in allowed]
    if not found:
        return _ok(f"no session defaults but the project's on {', '.join(roles)}")
    role, in_database, setting = found[0]
    where = " in this database" if in_database else ""
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return (
        Status.FAIL,
        f"{role} has the session default {setting}{where}, which the project "
        f"does not set{more}; run manage.py migrate as the owner to reset it",
        POSTURE_BROKEN,
    )


def check_sqlite_isolation(run: _Run, connection) -> CheckResult:
    return (
        Status.WARN,
        "SQLite: isolation is enforced by the application only "
        "(no row-level security, no cascade in the database)",
        HEALTHY,
    )


# Connection errors, reduced to one line that names the reason.
_PREFIXES = re.compile(
    r"^(connection failed: |connection is bad: )?"
    r"(connection to server (at \"[^\"]*\"( \([^)]*\))?, port \d+|on socket \"[^\"]*\")"
    r" failed: )?(FATAL: +)?",
)


def first_line(exc: BaseException, settings_dict: dict) -> str:
    """Return the first line of `exc`'s message, with no password in it."""
    text = str(exc).strip()
    line = _PREFIXES.sub("", text.splitlines()[0] if text else "").strip()
    password = str(settings_dict.get("PASSWORD") or "")
    if len(password) >= 3:
        line = line.replace(password, "***")
    return line or type(exc).__name__


def describe_connect_error(
    exc: BaseException, settings_dict: dict, timeout: float
) -> str:
    """Say in one line why connecting failed, e.g. "connection refused at h:5432"."""
    line = first_line(exc, settings_dict)
    where = _where(settings_dict)
    lowered = line.lower()
    if "connection refused" in lowered:
        return f"connection refused at {where}"
    if "timeout expired" in lowered or "timed out" in lowered:
        return f"no answer from {where} within {_seconds(timeout)}"
    if (
        "failed to resolve host" in lowered
        or "could not translate host name" in lowered
        or "name or service not known" in lowered
    ):
        return f"unknown host {settings_dict.get('HOST')} (name resolution failed)"
    if where in line:
        return line
    return f"{line} at {where}"


def _where(settings_dict: dict) -> str:
    if settings_dict["ENGINE"].endswith("sqlite3"):
        return str(settings_dict.get("NAME"))
    host = str(settings_dict.get("HOST") or "")
    port = str(settings_dict.get("PORT") or "5432")
    if not host or host.startswith("/"):
        return f"local socket {host or '(default)'}, port {port}"
    if ":" in host:
        host = f"[{host}]"
    return f"{host}:{port}"


def _is_local(host: str) -> bool:
    if not host or host.startswith("/") or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


Checker = Callable[["_Run", Any], CheckResult]

POSTGRESQL_CHECKS: list[tuple[str, Checker]] = [
    ("round trip", check_round_trip),
    ("server", check_postgresql_server),
    ("ssl", check_ssl),
    ("migrations", check_migrations),
    ("cascade", check_cascade),
    ("row security", check_row_security),
    ("role", check_role),
    ("definitions", check_definitions),
    ("role config", check_role_config),
]
SQLITE_CHECKS: list[tuple[str, Checker]] = [
    ("round trip", check_round_trip),
    ("server", check_sqlite_server),
    ("migrations", check_migrations),
    ("isolation", check_sqlite_isolation),
]
