"""
Is a configured database usable by this project, and still as safe as it
was built to be?

``run_checks(alias)`` returns a ``Report``: one ``Check`` per line of the
``healthcheck`` command's output and per entry of the ``/healthz`` response.
First connect (within a timeout), then the checks that the apps registered
in ``ownership.health`` for the database's vendor, in their order:
operations' (a round trip, who and what the server is, SSL, unapplied
migrations, drift of the definitions), tasks' (the integrity posture that
``tasks.0002_database_enforcement`` installs: the owner's foreign key
cascades, row-level security is enabled and forced, the role can be held to
it) and ownership's (the roles' session defaults). On a primary, the checks
registered for replicas then run on each of ``DATABASE_REPLICAS``.

The checks run on a private connection opened for the purpose (never the
command's or the request's own connection, which may be in a transaction)
and closed afterwards, in a worker thread: a server that does not answer
costs at most the timeout plus a little, however many addresses libpq tries
and however slowly a name resolves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from ownership import health as registry
from ownership.health import CheckContext, CheckResult
from replicas.health import primary_position

from .connection import (
    describe_connect_error,
    first_line,
    ms_since,
    private_connection,
    seconds,
    where,
)
from .report import SEVERITY, UNREACHABLE, Check, ReplicaStatus, Report, Status

DEFAULT_TIMEOUT = 5.0
# What the worker thread may take on top of the timeout before the check
# gives up on it (thread start, name resolution, a slow first import).
GRACE = 0.5


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
    if alias == DEFAULT_DB_ALIAS and report.vendor == "postgresql":
        report.replicas = replica_statuses(alias, timeout)
    return report


def run_one(check: registry.HealthCheck, context: CheckContext) -> CheckResult:
    """Run `check`; a database error fails it as unreachable."""
    try:
        return check.run(context)
    except DatabaseError as exc:
        return CheckResult.fail(
            f"query failed: {first_line(exc, context.settings_dict)}", UNREACHABLE
        )


class _Run:
    """One run of the checks, in a worker thread that may be given up on."""

    def __init__(self, report, settings_dict, timeout, allow_privileged_role):
        self.report = report
        self.settings_dict = settings_dict
        self.timeout = timeout
        self.allow_privileged_role = allow_privileged_role
        self.where = where(settings_dict)
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
                    f"no answer from {self.where} within {seconds(self.timeout)}",
                    ms_since(started),
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
                    f"within {seconds(self.timeout)}",
                    ms_since(started),
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

    def add(self, check: Check, result: CheckResult | None = None) -> None:
        with self.lock:
            if self.abandoned:
                return
            self.report.checks.append(check)
            if result is not None:
                self.note(result.facts)

    def note(self, facts) -> None:
        """Keep what a check learnt about the server in the report."""
        if "server_version" in facts:
            self.report.server_version = facts["server_version"]
        # The project's own server says so, however it is reached.
        self.report.embedded = self.report.embedded or bool(facts.get("embedded"))

    def work(self) -> None:
        alias = self.report.alias
        try:
            connection = private_connection(self.settings_dict, alias, self.timeout)
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

    def check_all(self, connection) -> None:
        started = time.perf_counter()
        try:
            connection.ensure_connection()
        except DatabaseError as exc:
            reason = describe_connect_error(exc, self.settings_dict, self.timeout)
            self.add(
                Check("connect", Status.FAIL, reason, ms_since(started), UNREACHABLE)
            )
            return
        connected = f"connected to {self.where}"
        self.add(Check("connect", Status.OK, connected, ms_since(started)))
        self.connected.set()

        context = CheckContext(
            connection=connection,
            settings_dict=self.settings_dict,
            where=self.where,
            allow_privileged_role=self.allow_privileged_role,
        )
        for check in registry.checks(connection.vendor):
            if self.abandoned:
                return
            started = time.perf_counter()
            result = run_one(check, context)
            self.add(
                Check(
                    check.name,
                    result.status,
                    result.detail,
                    ms_since(started),
                    result.exit_code,
                ),
                result,
            )
            if result.status == Status.FAIL and result.exit_code == UNREACHABLE:
                return


def replica_statuses(primary_alias: str, timeout: float) -> list[ReplicaStatus]:
    """Return the status of every configured replica of `primary_alias`.

    Each replica is asked on a connection of its own by the checks
    registered for replicas (``replicas.health``); one that cannot be
    reached, or fails a query, is reported unreachable.
    """
    aliases = list(getattr(settings, "DATABASE_REPLICAS", ()))
    if not aliases:
        return []
    primary = _ask(primary_alias, timeout, primary_position)
    return [replica_status(alias, primary, timeout) for alias in aliases]


def _ask(alias: str, timeout: float, question):
    """Return `question(cursor)` on a private connection to `alias`, or None."""
    connection = private_connection(connections[alias].settings_dict, alias, timeout)
    try:
        with connection.cursor() as cursor:
            return question(cursor)
    except DatabaseError:
        return None
    finally:
        connection.close()


def replica_status(alias: str, primary: int | None, timeout: float) -> ReplicaStatus:
    """Run the replica checks on `alias`; the worst result is its status."""
    settings_dict = connections[alias].settings_dict
    connection = private_connection(settings_dict, alias, timeout)
    context = CheckContext(
        connection=connection,
        settings_dict=settings_dict,
        where=where(settings_dict),
        primary_position=primary,
    )
    results = []
    try:
        for check in registry.checks(connection.vendor, registry.REPLICA):
            results.append(check.run(context))
    except DatabaseError as exc:
        return ReplicaStatus(
            alias,
            Status.FAIL,
            f"unreachable: {first_line(exc, settings_dict)}",
            reachable=False,
        )
    finally:
        connection.close()
    facts = {key: value for result in results for key, value in result.facts.items()}
    worst = max(
        results, key=lambda result: SEVERITY[result.status], default=None
    ) or CheckResult.ok("no replica checks registered")
    return ReplicaStatus(
        alias,
        worst.status,
        worst.detail,
        reachable=True,
        replaying=facts.get("replaying"),
        lag_bytes=facts.get("lag_bytes"),
        lag_seconds=facts.get("lag_seconds"),
    )


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
