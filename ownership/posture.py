"""The health checks that ownership registers (see ownership.health).

The serving roles' session defaults, which can switch row-level security
off for every session without any privilege, and, on SQLite, the reminder
that isolation is the application's job alone.
"""

from __future__ import annotations

from django.conf import settings

from .health import POSTURE_BROKEN, CheckContext, CheckResult, HealthCheck
from .policies import ACTING_USER_FUNCTION
from .roles import project_role_settings
from .scope import Scope, scope_settings_sql


class RoleConfigCheck(HealthCheck):
    """Fail when the serving role has session defaults the project did not set.

    ``ALTER ROLE CURRENT_USER SET row_security = off`` (or a 1 ms
    ``statement_timeout``, ``debug_print_parse = on``) needs no privilege
    and outlives restarts. Checked for the runtime role, and for the
    connected role unless it is privileged on purpose (the migration job's
    owner). Allowed: ``settings.DATABASE_RUNTIME_ROLE_SETTINGS`` and
    ``track_activities = off``, which ``make run`` sets.
    """

    name = "role config"
    order = 90
    vendors = ("postgresql",)

    def run(self, context: CheckContext) -> CheckResult:
        roles = [settings.DATABASE_RUNTIME_ROLE]
        allowed = {f"{name}={value}" for name, value in project_role_settings().items()}
        allowed.add("track_activities=off")
        with context.connection.cursor() as cursor:
            cursor.execute("SELECT session_user")
            (session_role,) = cursor.fetchone()
            if not context.allow_privileged_role and session_role not in roles:
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
            return CheckResult.ok(
                f"no session defaults but the project's on {', '.join(roles)}"
            )
        role, in_database, setting = found[0]
        where = " in this database" if in_database else ""
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return CheckResult.fail(
            f"{role} has the session default {setting}{where}, which the project "
            f"does not set{more}; run manage.py migrate as the owner to reset it",
            POSTURE_BROKEN,
        )


class ScopeProofCheck(HealthCheck):
    """Fail when the database refuses the proofs this process signs.

    A secret key whose scope key ``migrate`` never installed (rotated
    without a migrate), or a server clock more than the proofs' lifetime
    ahead, makes the policies show every user nothing: said here, once,
    instead of as empty pages.
    """

    name = "scope proof"
    order = 95
    vendors = ("postgresql",)

    def run(self, context: CheckContext) -> CheckResult:
        # Any user id: the check asks the verifier and reads no row.
        probe = Scope(user_id=1)
        with context.connection.cursor() as cursor:
            cursor.execute("SELECT to_regproc(%s) IS NOT NULL", [ACTING_USER_FUNCTION])
            if not cursor.fetchone()[0]:
                return CheckResult.fail(
                    f"{ACTING_USER_FUNCTION}() is missing: run manage.py migrate",
                    POSTURE_BROKEN,
                )
            cursor.execute("BEGIN")
            try:
                cursor.execute(scope_settings_sql(probe, context.connection))
                cursor.execute(f"SELECT {ACTING_USER_FUNCTION}()")
                (acting,) = cursor.fetchone()
            finally:
                cursor.execute("ROLLBACK")
        if acting == probe.user_id:
            return CheckResult.ok("the database accepts this process's scope proofs")
        return CheckResult.fail(
            "the database refuses this process's scope proofs, so every user "
            "sees no task: run manage.py migrate with this DJANGO_SECRET_KEY, "
            "and check that the server's clock is within 30 s of this one's",
            POSTURE_BROKEN,
        )


class SqliteIsolationCheck(HealthCheck):
    """Warn that SQLite has no row-level security and no cascade of its own."""

    name = "isolation"
    order = 50
    vendors = ("sqlite",)

    def run(self, context: CheckContext) -> CheckResult:
        return CheckResult.warn(
            "SQLite: isolation is enforced by the application only "
            "(no row-level security, no cascade in the database)"
        )
