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

import math
import threading
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.utils import load_backend

from .checks import (
    POSTGRESQL_CHECKS,
    SQLITE_CHECKS,
    _ms_since,
    _seconds,
    _where,
    describe_connect_error,
    first_line,
)
from .replicas import replica_statuses
from .report import UNREACHABLE, Check, Report, Status

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
