"""The checks that operations registers: the server, its SSL, migrations, drift.

Each is a ``HealthCheck`` (``ownership.health``) that ``OperationsConfig``
registers; the task posture checks are ``tasks.posture``'s, the role's
session defaults and SQLite's isolation ``ownership.posture``'s, and the
replicas' ``replicas.health``'s. The order leaves room between them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import DatabaseError
from django.db.migrations.executor import MigrationExecutor

from operations import integrity
from ownership.health import (
    MIGRATIONS_PENDING,
    POSTURE_BROKEN,
    CheckContext,
    CheckResult,
    HealthCheck,
)

from .connection import first_line, is_local

# The cluster_name of every server the project starts itself (make run's,
# make test's, make bench's; embedded_pg sets it, a test holds the two
# equal). Any role can read it, so the report says "embedded" truthfully
# however the server is reached.
EMBEDDED_CLUSTER_NAME = "todoproject-embedded"


class RoundTripCheck(HealthCheck):
    """Run ``SELECT 1``: its time is the database round trip."""

    name = "round trip"
    order = 10

    def run(self, context: CheckContext) -> CheckResult:
        with context.connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        return CheckResult.ok("SELECT 1")


class ServerCheck(HealthCheck):
    """Name the server, its version, and (PostgreSQL) the database and role."""

    name = "server"
    order = 20

    def run(self, context: CheckContext) -> CheckResult:
        connection = context.connection
        with connection.cursor() as cursor:
            if connection.vendor == "sqlite":
                cursor.execute("SELECT sqlite_version()")
                (version,) = cursor.fetchone()
                return CheckResult.ok(
                    f"SQLite {version}, file {connection.settings_dict['NAME']}",
                    server_version=version,
                )
            cursor.execute(
                "SELECT current_setting('server_version'), current_database(), "
                "current_user, current_setting('cluster_name')"
            )
            version, database, role, cluster_name = cursor.fetchone()
        return CheckResult.ok(
            f"PostgreSQL {version}, database {database}, role {role}",
            # "15.10 (Debian 15.10-0+deb12u1)": the number is what matters.
            server_version=version.split()[0],
            embedded=cluster_name == EMBEDDED_CLUSTER_NAME,
        )


class SslCheck(HealthCheck):
    """Warn when a connection to a host that is not local goes without SSL."""

    name = "ssl"
    order = 30
    vendors = ("postgresql",)

    def run(self, context: CheckContext) -> CheckResult:
        # Asked of the client library, so it also holds behind PgBouncer,
        # where pg_stat_ssl would describe the pooler's own connection.
        if context.connection.connection.pgconn.ssl_in_use:
            return CheckResult.ok("in use")
        if is_local(context.settings_dict.get("HOST", "")):
            return CheckResult.ok("not in use (local connection)")
        return CheckResult.warn(
            f"not in use to {context.where}; add ?sslmode=require to the database URL"
        )


def unapplied_migrations(connection) -> list:
    """Return the plan that ``migrate`` would run on `connection`."""
    executor = MigrationExecutor(connection)
    return executor.migration_plan(executor.loader.graph.leaf_nodes())


class MigrationsCheck(HealthCheck):
    """Fail (exit 3) when ``migrate`` has something left to run."""

    name = "migrations"
    order = 40

    def run(self, context: CheckContext) -> CheckResult:
        pending = [
            f"{migration.app_label}.{migration.name}"
            for migration, _backwards in unapplied_migrations(context.connection)
        ]
        if not pending:
            return CheckResult.ok("all applied")
        shown = ", ".join(pending[:3]) + (", ..." if len(pending) > 3 else "")
        count = len(pending)
        noun = "migration is" if count == 1 else "migrations are"
        return CheckResult.fail(
            f"{count} {noun} not applied ({shown}); run manage.py migrate",
            MIGRATIONS_PENDING,
        )


class DefinitionsCheck(HealthCheck):
    """Fail when the policies, functions, triggers or grants drifted.

    Compared with the record ``migrate`` made of them (operations.integrity):
    one line naming the first difference, and how many more there are.
    """

    name = "definitions"
    order = 80
    vendors = ("postgresql",)

    def run(self, context: CheckContext) -> CheckResult:
        role = settings.DATABASE_RUNTIME_ROLE
        with context.connection.cursor() as cursor:
            try:
                recorded = integrity.read_record(cursor)
            except DatabaseError as exc:
                return CheckResult.fail(
                    f"cannot read what migrate installed ({first_line(exc, {})}); "
                    "run manage.py migrate as the owner",
                    POSTURE_BROKEN,
                )
            live = integrity.read_catalog(cursor, role)
        if recorded is None:
            found = ["no record of what migrate installed"]
        elif recorded.get(integrity.CODE_ITEM) != integrity.code_digest():
            found = [
                "the policies and functions of this code are not the ones "
                "migrate installed"
            ]
        else:
            found = integrity.differences(recorded, live)
        if not found:
            return CheckResult.ok(
                "policies, functions, triggers and grants as migrate installed"
            )
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return CheckResult.fail(
            f"{found[0]}{more}; run manage.py migrate as the owner", POSTURE_BROKEN
        )
