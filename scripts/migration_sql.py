"""Write down what every migration of the project runs, for the test that holds it.

    DATABASE_URL=postgres://... python scripts/migration_sql.py [--check]

A released migration never changes what it runs. For each migration of an
app of this project (not Django's own apps) this writes, under
tests/data/migration_sql/<app>/:

- ``<name>.sql``: what ``manage.py sqlmigrate <app> <name>`` prints for
  PostgreSQL;
- ``<name>.backwards.sql``: the same with ``--backwards``;
- ``<name>.source.txt``, for a migration with a ``RunPython`` operation,
  whose code sqlmigrate cannot print: the migration file itself.

tests/test_migrations.py compares every migration with these files and
fails when one differs. Run this only for a NEW migration (files that do
not exist yet are written; existing ones are never overwritten), or after
checking that a difference comes from Django or PostgreSQL themselves and
not from the project (then delete the file and run this again).
``--check`` writes nothing and lists the differences. Exit 0: every
file holds what its migration runs; 1: some differ (listed, and never
overwritten); 2: it could not run (no PostgreSQL).
"""

from __future__ import annotations

import argparse
import os
import sys
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HELD = ROOT / "tests" / "data" / "migration_sql"


def sql_of(app_label: str, name: str, *, backwards: bool = False) -> str:
    """Return what ``sqlmigrate`` prints for the migration, either way."""
    from django.core.management import call_command

    out = StringIO()
    call_command(
        "sqlmigrate", app_label, name, backwards=backwards, stdout=out, no_color=True
    )
    return out.getvalue()


def held_files(app_label: str, name: str) -> dict[Path, str]:
    """Return {path: text} of what migration `app_label`.`name` runs today."""
    import inspect

    from django.db import connection
    from django.db.migrations import RunPython
    from django.db.migrations.loader import MigrationLoader

    folder = HELD / app_label
    files = {
        folder / f"{name}.sql": sql_of(app_label, name),
        folder / f"{name}.backwards.sql": sql_of(app_label, name, backwards=True),
    }
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    migration = loader.disk_migrations[app_label, name]
    if any(isinstance(op, RunPython) for op in migration.operations):
        module = sys.modules[type(migration).__module__]
        files[folder / f"{name}.source.txt"] = inspect.getsource(module)
    return files


def differences(files: dict[Path, str]) -> list[str]:
    """Return one line per file of `files` that is missing or differs."""
    found = []
    for path, text in files.items():
        shown = path.relative_to(ROOT)
        if not path.exists():
            found.append(f"{shown}: not written yet")
        elif path.read_text() != text:
            found.append(f"{shown}: differs from what the migration runs today")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="write nothing; list the differences"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todoproject.settings")
    import django

    django.setup()
    from django.db import connection
    from squawk_migrations import project_migrations

    if connection.vendor != "postgresql":
        print(
            "error: the held SQL is PostgreSQL's; set DATABASE_URL to a "
            "PostgreSQL server",
            file=sys.stderr,
        )
        return 2
    found = []
    written = 0
    for app_label, name in project_migrations():
        files = held_files(app_label, name)
        found += differences(files)
        for path, text in files.items():
            if not args.check and not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                written += 1
    if args.check:
        for line in found:
            print(line, file=sys.stderr)
        return 1 if found else 0
    print(f"migration_sql: {written} files written to {HELD.relative_to(ROOT)}")
    changed = [line for line in found if not line.endswith("not written yet")]
    for line in changed:
        print(f"{line}; left as it was", file=sys.stderr)
    return 1 if changed else 0


if __name__ == "__main__":
    sys.exit(main())
