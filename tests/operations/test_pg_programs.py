"""operations.pg_programs: which pg_dump or pg_restore the backups run."""

import os
from pathlib import Path

from operations.pg_programs import Program, closest, programs

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


def test_pg_bin_dir_is_searched_first(tmp_path, monkeypatch):
    fake = tmp_path / "pg_dump"
    fake.write_text("#!/bin/sh\necho 'pg_dump (PostgreSQL) 42.1'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PG_BIN_DIR", str(tmp_path))

    found = programs("pg_dump")

    assert found[0] == Program(fake, 42)
    assert os.access(found[0].path, os.X_OK)
