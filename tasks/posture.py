"""The health checks of the tasks' integrity posture, registered by TasksConfig.

What the migration ``tasks.0002_database_enforcement`` installs, as the
database has it now: the owner's foreign key cascades in the database,
row-level security is enabled and forced on the task table, and the
connected role can be held to it. Each failure is exit 4 (posture broken).
"""

from __future__ import annotations

from ownership.health import (
    POSTURE_BROKEN,
    CheckContext,
    CheckResult,
    HealthCheck,
)

from .models import Task


def _task_table() -> tuple[str, str]:
    """Return the task table and its owner column."""
    return Task._meta.db_table, Task._meta.get_field("owner").column


def _owner_target() -> tuple[str, str]:
    """Return the table and column the task owner must reference."""
    field = Task._meta.get_field("owner")
    return field.related_model._meta.db_table, field.target_field.column


class CascadeCheck(HealthCheck):
    """Fail unless the owner's one foreign key is ON DELETE CASCADE to users."""

    name = "cascade"
    order = 50
    vendors = ("postgresql",)

    def run(self, context: CheckContext) -> CheckResult:
        connection = context.connection
        table, column = _task_table()
        target_table, target_column = _owner_target()
        with connection.cursor() as cursor:
            # One row per foreign key on the owner column (one with NULLs
            # when there is none): its delete action, and whether it
            # references the users' primary key rather than any other table.
            cursor.execute(
                "SELECT t.oid IS NOT NULL, c.confdeltype, "
                "c.confrelid = u.oid AND c.confkey = ARRAY[k.attnum], "
                "c.confrelid::regclass::text "
                "FROM (SELECT to_regclass(%s) AS oid) t "
                "CROSS JOIN (SELECT to_regclass(%s) AS oid) u "
                "LEFT JOIN pg_attribute k ON k.attrelid = u.oid AND k.attname = %s "
                "LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = %s "
                "LEFT JOIN pg_constraint c ON c.conrelid = t.oid "
                "AND c.contype = 'f' AND c.conkey = ARRAY[a.attnum]",
                [
                    connection.ops.quote_name(table),
                    connection.ops.quote_name(target_table),
                    target_column,
                    column,
                ],
            )
            rows = cursor.fetchall()
        if [row[:3] for row in rows] == [(True, "c", True)]:
            return CheckResult.ok(f"{table}.{column} is ON DELETE CASCADE")
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
        return CheckResult.fail(detail, POSTURE_BROKEN)


class RowSecurityCheck(HealthCheck):
    """Fail unless row-level security is enabled and forced on the task table."""

    name = "row security"
    order = 60
    vendors = ("postgresql",)

    def run(self, context: CheckContext) -> CheckResult:
        table, _column = _task_table()
        with context.connection.cursor() as cursor:
            cursor.execute(
                "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE oid = to_regclass(%s)",
                [context.connection.ops.quote_name(table)],
            )
            row = cursor.fetchone()
        if row == (True, True):
            return CheckResult.ok(f"enabled and forced on {table}")
        if row is None:
            detail = f"{table} does not exist"
        elif row[0]:
            detail = f"enabled but not forced on {table}: its owner skips the policies"
        else:
            detail = f"not enabled on {table}: every role sees every task"
        return CheckResult.fail(detail, POSTURE_BROKEN)


class RoleCheck(HealthCheck):
    """Fail when the connected role could see past or lift the policies.

    A superuser or ``BYPASSRLS`` role skips them; the owner of the tasks
    table (or any role that can act as it) may alter or drop them; so may a
    role that is a member of a superuser or ``BYPASSRLS`` role. A role that
    may create temporary tables could shadow the application's tables.
    ``--allow-privileged-role`` makes each of these a warning.
    """

    name = "role"
    order = 70
    vendors = ("postgresql",)

    def run(self, context: CheckContext) -> CheckResult:
        table, _column = _task_table()
        with context.connection.cursor() as cursor:
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
                [context.connection.ops.quote_name(table)],
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
            # The owner may; a role that serves must not shadow the app's
            # tables.
            detail = (
                f"{role} may create temporary tables, which can shadow the "
                "application's tables on its connection; run manage.py migrate "
                "as the owner (it revokes TEMPORARY)"
            )
        elif not powers:
            return CheckResult.ok(
                f"{role} is subject to row-level security and owns no task table"
            )
        else:
            detail = (
                f"{role} is {' and '.join(powers)}: "
                "it can skip or lift row-level security"
            )
        if context.allow_privileged_role:
            return CheckResult.warn(f"{detail} (allowed)")
        return CheckResult.fail(detail, POSTURE_BROKEN)
