"""Is a configured database usable by this project, and still as safe as it
was built to be? ``run_checks(alias)`` answers with a ``Report``; see
``runner`` for how the checks run, and ``ownership.health`` for the registry
that each app fills with its checks (``checks`` holds operations' own).
"""

from .report import (
    HEALTHY,
    MIGRATIONS_PENDING,
    POSTURE_BROKEN,
    UNREACHABLE,
    USAGE_ERROR,
    Check,
    Report,
    Status,
)
from .runner import DEFAULT_TIMEOUT, run_checks, wait_until_healthy

__all__ = [
    "DEFAULT_TIMEOUT",
    "HEALTHY",
    "MIGRATIONS_PENDING",
    "POSTURE_BROKEN",
    "UNREACHABLE",
    "USAGE_ERROR",
    "Check",
    "Report",
    "Status",
    "run_checks",
    "wait_until_healthy",
]
