"""The health checks' registry: each app registers its own, as classes.

A check is a ``HealthCheck`` subclass with a ``name`` (its line in
``manage.py healthcheck`` and its entry in ``/healthz``), an ``order``
(where that line goes), the ``vendors`` it applies to, and ``run(context)``
returning a ``CheckResult``. An app registers its checks in its
``AppConfig.ready()``, the way django-health-check's backends are::

    from ownership import health

    health.register(CascadeCheck)

``operations.health`` runs ``checks(vendor)`` in order on a connection of
its own and reports them; a new check is a new class, not an edit of a list.

The registry lives in the bottom layer so that every app can import it
without importing ``operations``, which sits above them; it names no check
and no app. ``target`` says what a check runs on: ``"database"``, the
database checked, or ``"replica"``, each streaming replica of a primary
(``replicas.health``), whose results are reported per replica.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

# Exit codes of the healthcheck command; a report's code is the lowest of
# its failed checks', so the most basic problem is the one reported.
HEALTHY = 0
UNREACHABLE = 1
USAGE_ERROR = 2
MIGRATIONS_PENDING = 3
POSTURE_BROKEN = 4

DATABASE = "database"
REPLICA = "replica"


class Status(enum.StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class CheckResult:
    """What one check found; `exit_code` is what its failure means.

    `facts` are what the check learnt about the server on the way (its
    version, whether it is the project's embedded one, a replica's lag),
    for the report to show beside the checks.
    """

    status: Status
    detail: str
    exit_code: int = HEALTHY
    facts: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, detail: str, **facts: Any) -> CheckResult:
        return cls(Status.OK, detail, HEALTHY, facts)

    @classmethod
    def warn(cls, detail: str, **facts: Any) -> CheckResult:
        return cls(Status.WARN, detail, HEALTHY, facts)

    @classmethod
    def fail(cls, detail: str, exit_code: int, **facts: Any) -> CheckResult:
        return cls(Status.FAIL, detail, exit_code, facts)


@dataclass(frozen=True)
class CheckContext:
    """What a check may use: an open connection and how it was reached.

    `connection` is a private Django connection, opened for the checks and
    closed after them, never one that serves requests. `where` names the
    server in messages (host and port, or the SQLite file).
    """

    connection: Any
    settings_dict: Mapping[str, Any]
    where: str
    allow_privileged_role: bool = False
    # For checks of a replica: the primary's WAL position, when known.
    primary_position: int | None = None


class HealthCheck:
    """One health check: subclass it, set the class attributes, write `run`."""

    name: ClassVar[str]
    order: ClassVar[int]
    vendors: ClassVar[tuple[str, ...]] = ("postgresql", "sqlite")
    target: ClassVar[str] = DATABASE

    def run(self, context: CheckContext) -> CheckResult:
        """Check the database of `context`; a ``DatabaseError`` may escape.

        An escaping ``DatabaseError`` fails the check as unreachable and
        stops the checks after it.
        """
        raise NotImplementedError


_registry: dict[str, type[HealthCheck]] = {}


def register(check: type[HealthCheck]) -> type[HealthCheck]:
    """Add `check` to the registry and return it (usable as a decorator).

    Registering the same class again does nothing; another class under a
    name already taken is a configuration error, not a silent replacement.
    """
    for attribute in ("name", "order"):
        if not hasattr(check, attribute):
            raise ImproperlyConfigured(f"{check.__qualname__} has no {attribute}")
    key = f"{check.target}:{check.name}"
    registered = _registry.setdefault(key, check)
    if registered is not check:
        raise ImproperlyConfigured(
            f"two health checks are named {check.name!r}: "
            f"{registered.__module__}.{registered.__qualname__} and "
            f"{check.__module__}.{check.__qualname__}"
        )
    return check


def unregister(check: type[HealthCheck]) -> None:
    """Remove `check` from the registry (for tests and apps that replace one)."""
    key = f"{check.target}:{check.name}"
    if _registry.get(key) is check:
        del _registry[key]


def checks(vendor: str, target: str = DATABASE) -> list[HealthCheck]:
    """Return an instance of each check for `vendor` and `target`, in order."""
    found = [
        check
        for check in _registry.values()
        if check.target == target and vendor in check.vendors
    ]
    return [check() for check in sorted(found, key=lambda c: (c.order, c.name))]
