"""embedded_pg.binaries: which PostgreSQL program is chosen."""

from pathlib import Path

from embedded_pg.binaries import Program, closest

FOUND = [
    Program(Path("/wheel/bin/pg_dump"), 18),
    Program(Path("/usr/lib/postgresql/15/bin/pg_dump"), 15),
    Program(Path("/usr/lib/postgresql/16/bin/pg_dump"), 16),
]


def test_the_same_major_version_wins():
    assert closest(FOUND, 16) == FOUND[2]


def test_else_the_nearest_newer_one():
    assert closest(FOUND, 17) == FOUND[0]


def test_an_older_one_is_never_chosen():
    assert closest(FOUND, 19) is None
