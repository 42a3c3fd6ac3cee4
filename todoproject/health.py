"""
Is a configured database usable by this project, and still as safe as it
was built to be?

``run_checks(alias)`` returns a ``Report``: one ``Check`` per line of the
``healthcheck`` command's output and per entry of the ``/healthz`` response.
In order: connect (within a timeout), a round trip, who and what the server
is, SSL, unapplied migrations and, on PostgreSQL, the integrity posture that
the migration ``tasks.0002_database_enforcement`` installs: the tasks foreign
key cascades in the database, row-level security is enabled and forced, and
the connected role can be held to it (not a superuser, no ``BYPASSRLS``).

The checks run on a private connection opened for the purpose (never the
command's or the request's own connection, which may be in a transaction)
and closed afterwards, in a worker thread: a server that does not answer
costs at most the timeout plus a little, however many addresses libpq tries
and however slowly a name resolves.
"""

from __future__ import annotations

import enum
import ipaddress
import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.utils import load_backend

DEFAULT_TIMEOUT = 5.0
# What the worker thread may take on top of the timeout before the check
# gives up on it (thread start, name resolution, a slow first import).
GRACE = 0.5

# Exit codes of the healthcheck command; a report's code is the lowest of
# its failed checks', so the most basic problem is the one reported.
HEALTHY = 0
UNREACHABLE = 1
USAGE_ERROR = 2
MIGRATIONS_PENDING = 3
POSTURE_BROKEN = 4


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


_SEVERITY = {Status.OK: 0, Status.WARN: 1, Status.FAIL: 2}


@dataclass(frozen=True)
class Check:
    """The outcome of one check; `exit_code` is what its failure means."""

    name: str
    status: Status
    detail: str
    ms: float
    exit_code: int = HEALTHY

    def as_dict(self, *, details: bool = True) -> dict[str, Any]:
        data = {"name": self.name, "status": str(self.status), "ms": round(self.ms, 1)}
        if details:
            data["detail"] = self.detail
        return data


@dataclass
class Report:
    """What the checks of one database found."""

    alias: str
    vendor: str
    embedded: bool
    server_version: str | None = None
    checks: list[Check] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.status == Status.FAIL]

    @property
    def status(self) -> Status:
        """Return the worst status of the checks."""
        return max(
            (check.status for check in self.checks),
            key=_SEVERITY.__getitem__,
            default=Status.FAIL,
        )

    @property
    def exit_code(self) -> int:
        codes = [check.exit_code for check in self.failures]
        if not self.checks:
            return UNREACHABLE
        return min(codes, default=HEALTHY)

    @property
    def healthy(self) -> bool:
        return self.exit_code == HEALTHY

    @property
    def reason(self) -> str | None:
        """Return the one line that says why the report is not healthy."""
        for check in self.failures:
            if check.exit_code == self.exit_code:
                return check.detail
        return None

    def as_dict(self, *, details: bool = True) -> dict[str, Any]:
        """Return the report as JSON-ready data.

        Without `details` it names no host, database, role or migration, for
        an endpoint that anyone who can reach it may read.
        """
        data: dict[str, Any] = {
            "status": str(self.status),
            "healthy": self.healthy,
            "exit_code": self.exit_code,
            "database": {
                "vendor": self.vendor,
                "server_version": self.server_version,
                "embedded": self.embedded,
            },
            "checks": [check.as_dict(details=details) for check in self.checks],
        }
        if details:
            data["database"]["alias"] = self.alias
            data["reason"] = self.reason
        return data


def run_checks(
    alias: str = DEFAULT_DB_ALIAS,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    allow_privileged_role: bool = False,
) -> Report:
    """Check the database `alias` and return the report.

    Connecting may take `timeout` seconds and the queries after it as long
    again. `allow_privileged_role` turns a superuser or ``BYPASSRLS`` role
    from a failure into a warning, for a role used so on purpose.
    """
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    # The live settings of the alias, not settings.DATABASES: the test
    # runner renames the database on the connection only.
    settings_dict = connections[alias].settings_dict
    report = Report(
        alias=alias,
        vendor=connections[alias].vendor,
        embedded=settings.EMBEDDED_DATABASE,
    )
    _Run(report, settings_dict, timeout, allow_privileged_role).run()
    return report


class _Run:
    """One run of the checks, in a worker thread that may be given up on."""

    def __init__(self, report, settings_dict, timeout, allow_privileged_role):
        self.report = report
        self.settings_dict = settings_dict
        self.timeout = timeout
        self.allow_privileged_role = allow_privileged_role
        self.where = _where(settings_dict)
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.finished = threading.Event()
        self.abandoned = False
        self.error: BaseException | None = None

    def run(self) -> None:
        worker = threading.Thread(
            target=self.work, name=f"healthcheck-{self.report.alias}", daemon=True
        )
        started = time.perf_counter()
        worker.start()
        if not self.connected.wait(self.timeout + GRACE):
            self.give_up(
                Check(
                    "connect",
                    Status.FAIL,
                    f"no answer from {self.where} within {_seconds(self.timeout)}",
                    _ms_since(started),
                    UNREACHABLE,
                )
            )
            return
        if not self.finished.wait(self.timeout + GRACE):
            self.give_up(
                Check(
                    "queries",
                    Status.FAIL,
                    f"the checks got no answer from {self.where} "
                    f"within {_seconds(self.timeout)}",
                    _ms_since(started),
                    UNREACHABLE,
                )
            )
            return
        if self.error is not None:
            raise self.error

    def give_up(self, check: Check) -> None:
        with self.lock:
            self.abandoned = True
            self.report.checks.append(check)

    def add(self, check: Check) -> None:
        with self.lock:
            if not self.abandoned:
                self.report.checks.append(check)

    def work(self) -> None:
        alias = self.report.alias
        try:
            connection = self.private_connection()
            # Connections are per thread: this makes the ORM queries of this
            # thread (the migration recorder's) use the private connection,
            # not open and leave behind one of their own.
            connections[alias] = connection
            try:
                self.check_all(connection)
            finally:
                connection.close()
                del connections[alias]
        except Exception as exc:
            # A bug rather than a database answer: run() raises it.
            self.error = exc
        finally:
            self.connected.set()
            self.finished.set()

    def private_connection(self):
        settings_dict = {
            **self.settings_dict,
            "OPTIONS": {**self.settings_dict.get("OPTIONS", {})},
        }
        if self.report.vendor == "postgresql":
            # libpq counts whole seconds; the worker's deadline keeps the
            # fraction. A pool would keep the connection open: none here.
            options = settings_dict["OPTIONS"]
            options["connect_timeout"] = max(1, math.ceil(self.timeout))
            options.pop("pool", None)
        backend = load_backend(settings_dict["ENGINE"])
        return backend.DatabaseWrapper(settings_dict, self.report.alias)

    def check_all(self, connection) -> None:
        started = time.perf_counter()
        try:
            connection.ensure_connection()
        except DatabaseError as exc:
            reason = describe_connect_error(exc, self.settings_dict, self.timeout)
            self.add(
                Check("connect", Status.FAIL, reason, _ms_since(started), UNREACHABLE)
            )
            return
        connected = f"connected to {self.where}"
        self.add(Check("connect", Status.OK, connected, _ms_since(started)))
        self.connected.set()

        checks = SQLITE_CHECKS
        if connection.vendor == "postgresql":
            checks = POSTGRESQL_CHECKS
        for name, check in checks:
            if self.abandoned:
                return
            started = time.perf_counter()
            try:
                status, detail, code = check(self, connection)
            except DatabaseError as exc:
                status, detail, code = (
                    Status.FAIL,
                    f"query failed: {first_line(exc, self.settings_dict)}",
                    UNREACHABLE,
                )
            self.add(Check(name, status, detail, _ms_since(started), code))
            if status == Status.FAIL and code == UNREACHABLE:
                return


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
            "SELECT current_setting('server_version'), current_database(), current_user"
        )
        version, database, role = cursor.fetchone()
    # "15.10 (Debian 15.10-0+deb12u1)": the number is what matters.
    run.report.server_version = version.split()[0]
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


def check_cascade(run: _Run, connection) -> CheckResult:
    table, column = _task_table()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.oid IS NOT NULL, c.confdeltype "
            "FROM (SELECT to_regclass(%s) AS oid) t "
            "LEFT JOIN pg_attribute a ON a.attrelid = t.oid AND a.attname = %s "
            "LEFT JOIN pg_constraint c ON c.conrelid = t.oid AND c.contype = 'f' "
            "AND c.conkey = ARRAY[a.attnum]",
            [connection.ops.quote_name(table), column],
        )
        rows = cursor.fetchall()
    if rows == [(True, "c")]:
        return _ok(f"{table}.{column} is ON DELETE CASCADE")
    if rows == [(False, None)]:
        detail = f"{table} does not exist"
    elif rows == [(True, None)]:
        detail = f"{table}.{column} has no foreign key"
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
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles "
            "WHERE rolname = current_user"
        )
        role, superuser, bypassrls = cursor.fetchone()
    powers = [
        name
        for name, held in (("a superuser", superuser), ("BYPASSRLS", bypassrls))
        if held
    ]
    if not powers:
        return _ok(f"{role} is subject to row-level security")
    detail = f"{role} is {' and '.join(powers)}: it skips row-level security"
    if run.allow_privileged_role:
        return Status.WARN, f"{detail} (allowed)", HEALTHY
    return Status.FAIL, detail, POSTURE_BROKEN


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


Checker = Callable[[_Run, Any], CheckResult]

POSTGRESQL_CHECKS: list[tuple[str, Checker]] = [
    ("round trip", check_round_trip),
    ("server", check_postgresql_server),
    ("ssl", check_ssl),
    ("migrations", check_migrations),
    ("cascade", check_cascade),
    ("row security", check_row_security),
    ("role", check_role),
]
SQLITE_CHECKS: list[tuple[str, Checker]] = [
    ("round trip", check_round_trip),
    ("server", check_sqlite_server),
    ("migrations", check_migrations),
    ("isolation", check_sqlite_isolation),
]


def wait_until_healthy(
    alias: str = DEFAULT_DB_ALIAS,
    *,
    wait: float,
    timeout: float = DEFAULT_TIMEOUT,
    allow_privileged_role: bool = False,
    on_retry: Callable[[Report, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Report:
    """Run the checks until they pass or `wait` seconds are up.

    Waits between attempts grow from a quarter of a second to five seconds,
    and the last one ends at the deadline: a database that starts (a
    container, a Neon compute waking up) is noticed soon, one that never
    does costs at most `wait` plus one attempt. `on_retry(report, delay)` is
    told about each failed attempt that will be retried. Returns the last
    report.
    """
    deadline = clock() + wait
    delay = 0.25
    while True:
        report = run_checks(
            alias, timeout=timeout, allow_privileged_role=allow_privileged_role
        )
        remaining = deadline - clock()
        if report.healthy or remaining <= 0:
            return report
        pause = min(delay, remaining)
        if on_retry is not None:
            on_retry(report, pause)
        sleep(pause)
        delay = min(delay * 2, 5.0)
