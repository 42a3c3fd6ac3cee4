"""A health report as OpenMetrics text, for ``/healthz?format=openmetrics``.

The same checks as the JSON answer, as gauges: whether the database is
healthy, each check's status and duration, the round-trip time, each
replica's status and lag, and the state of this process's connection or
pool. Like the JSON without details,
nothing here names a host, a database, a role or a migration.

Written through prometheus_client's collector API and OpenMetrics
exposition, on a registry made for each answer: nothing global, nothing
kept between scrapes, and the format's escaping and ``# EOF`` are the
library's, not hand-written.
"""

from __future__ import annotations

from prometheus_client.core import (
    CollectorRegistry,
    GaugeMetricFamily,
    InfoMetricFamily,
)
from prometheus_client.openmetrics.exposition import (
    CONTENT_TYPE_LATEST,
    generate_latest,
)

from .checks import RoundTripCheck
from .report import Report, Status

CONTENT_TYPE = CONTENT_TYPE_LATEST
PREFIX = "todoproject_health"


def openmetrics(report: Report, connection=None) -> bytes:
    """Return `report` (and the state of `connection`, if given) as OpenMetrics."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ReportCollector(report, connection))
    return generate_latest(registry)


class _ReportCollector:
    def __init__(self, report: Report, connection) -> None:
        self.report = report
        self.connection = connection

    def collect(self):
        report = self.report
        yield GaugeMetricFamily(
            f"{PREFIX}_healthy",
            "1 when every check passed (warnings allowed), else 0.",
            value=int(report.healthy),
        )
        yield GaugeMetricFamily(
            f"{PREFIX}_exit_code",
            "The healthcheck command's exit code: 0 healthy, 1 unreachable, "
            "3 migrations pending, 4 integrity posture broken.",
            value=report.exit_code,
        )
        yield InfoMetricFamily(
            f"{PREFIX}_database",
            "The database checked: vendor, server version, embedded or not.",
            value={
                "vendor": report.vendor,
                "server_version": report.server_version or "",
                "embedded": str(report.embedded).lower(),
            },
        )
        status = GaugeMetricFamily(
            f"{PREFIX}_check_status",
            "1 for the status each check ended with, 0 for the others.",
            labels=["check", "status"],
        )
        duration = GaugeMetricFamily(
            f"{PREFIX}_check_duration_seconds",
            "How long each check took.",
            labels=["check"],
            unit="seconds",
        )
        for check in report.checks:
            for value in Status:
                status.add_metric([check.name, str(value)], int(check.status == value))
            duration.add_metric([check.name], check.ms / 1000)
        yield status
        yield duration
        round_trip = [
            check
            for check in report.checks
            if check.name == RoundTripCheck.name and check.status != Status.FAIL
        ]
        if round_trip:
            yield GaugeMetricFamily(
                f"{PREFIX}_database_round_trip_seconds",
                "Time of one SELECT 1 on the checks' own connection.",
                value=round_trip[0].ms / 1000,
                unit="seconds",
            )
        if report.replicas:
            yield from replica_families(report)
        if self.connection is not None:
            yield from connection_state(self.connection)


def replica_families(report: Report):
    """Yield each replica's status and lag, labelled by its alias only."""
    status = GaugeMetricFamily(
        f"{PREFIX}_replica_status",
        "1 for the status each replica ended with, 0 for the others; a "
        "failed replica is a warning for the service (reads fall back).",
        labels=["replica", "status"],
    )
    lag_seconds = GaugeMetricFamily(
        f"{PREFIX}_replica_lag_seconds",
        "How far behind the primary each replica's replay is.",
        labels=["replica"],
        unit="seconds",
    )
    lag_bytes = GaugeMetricFamily(
        f"{PREFIX}_replica_lag_bytes",
        "How many bytes of WAL each replica has still to replay.",
        labels=["replica"],
        unit="bytes",
    )
    for replica in report.replicas:
        for value in Status:
            status.add_metric([replica.alias, str(value)], int(replica.status == value))
        if replica.lag_seconds is not None:
            lag_seconds.add_metric([replica.alias], replica.lag_seconds)
        if replica.lag_bytes is not None:
            lag_bytes.add_metric([replica.alias], replica.lag_bytes)
    yield status
    yield lag_seconds
    yield lag_bytes


def connection_state(connection):
    """Yield the state of `connection`'s pool, or of its own connection.

    With ``DATABASE_POOL=true``, psycopg_pool's statistics of the process's
    pool; otherwise whether the calling thread's persistent connection is
    open (``DATABASE_CONN_MAX_AGE``).
    """
    # Django's PostgreSQL wrapper has a pool with DATABASE_POOL=true only.
    pool = connection.pool if connection.vendor == "postgresql" else None
    if pool is None:
        yield GaugeMetricFamily(
            "todoproject_database_connection_open",
            "1 when this worker thread holds an open database connection.",
            value=int(connection.connection is not None),
        )
        return
    stats = pool.get_stats()
    for key, meaning in (
        ("pool_min", "The pool's minimum size."),
        ("pool_max", "The pool's maximum size."),
        ("pool_size", "Connections the pool holds, in use or not."),
        ("pool_available", "Connections idle in the pool."),
        ("requests_waiting", "Requests waiting for a connection."),
    ):
        yield GaugeMetricFamily(
            f"todoproject_database_{key}", meaning, value=stats.get(key, 0)
        )
