"""What a run of the health checks found: checks, reports, exit codes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ownership.health import (
    HEALTHY,
    MIGRATIONS_PENDING,
    POSTURE_BROKEN,
    UNREACHABLE,
    USAGE_ERROR,
    Status,
)

__all__ = [
    "HEALTHY",
    "MIGRATIONS_PENDING",
    "POSTURE_BROKEN",
    "UNREACHABLE",
    "USAGE_ERROR",
    "Check",
    "ReplicaStatus",
    "Report",
    "SEVERITY",
    "Status",
]

# What each failing exit code means, for the one line a failure ends with.
MEANINGS = {
    UNREACHABLE: "cannot reach the database",
    MIGRATIONS_PENDING: "migrations are pending",
    POSTURE_BROKEN: "the integrity posture is broken",
}

SEVERITY = {Status.OK: 0, Status.WARN: 1, Status.FAIL: 2}


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


@dataclass(frozen=True)
class ReplicaStatus:
    """What one streaming replica reported: reachable, replaying, its lag."""

    alias: str
    status: Status
    detail: str
    reachable: bool
    replaying: bool | None = None
    lag_bytes: int | None = None
    lag_seconds: float | None = None

    def as_dict(self, *, details: bool = True) -> dict[str, Any]:
        data = {
            "alias": self.alias,
            "status": str(self.status),
            "reachable": self.reachable,
            "replaying": self.replaying,
            "lag_bytes": self.lag_bytes,
            "lag_seconds": (
                None if self.lag_seconds is None else round(self.lag_seconds, 3)
            ),
        }
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
    # The streaming replicas of a primary (replicas/router.py), if any.
    replicas: list[ReplicaStatus] = field(default_factory=list)

    @property
    def failures(self) -> list[Check]:
        return [check for check in self.checks if check.status == Status.FAIL]

    @property
    def status(self) -> Status:
        """Return the worst status of the checks.

        A replica's failure is a warning for the service as a whole: reads
        fall back to the primary or another replica.
        """
        worst = max(
            (check.status for check in self.checks),
            key=SEVERITY.__getitem__,
            default=Status.FAIL,
        )
        if worst == Status.OK and any(r.status != Status.OK for r in self.replicas):
            return Status.WARN
        return worst

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
    def failed_check(self) -> Check | None:
        """Return the failed check whose exit code is the report's."""
        for check in self.failures:
            if check.exit_code == self.exit_code:
                return check
        return None

    @property
    def reason(self) -> str | None:
        """Return the one line that says why the report is not healthy."""
        check = self.failed_check
        return None if check is None else check.detail

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
            "replicas": [replica.as_dict(details=details) for replica in self.replicas],
        }
        if details:
            data["database"]["alias"] = self.alias
            data["reason"] = self.reason
        return data
