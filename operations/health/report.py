"""What a run of the health checks found: checks, reports, exit codes."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

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
            key=_SEVERITY.__getitem__,
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
            "replicas": [replica.as_dict(details=details) for replica in self.replicas],
        }
        if details:
            data["database"]["alias"] = self.alias
            data["reason"] = self.reason
        return data
