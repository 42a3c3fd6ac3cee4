"""Lint the SQL of every migration of the project's apps with squawk.

    DATABASE_URL=postgres://... python scripts/squawk_migrations.py

For each migration of an app of this project (not Django's own apps), the
SQL that ``manage.py sqlmigrate`` prints for PostgreSQL goes to squawk
(``squawk-cli``, requirements-dev.txt). A finding fails the run unless
ops/squawk/acknowledged.toml lists its migration and rule with the reason
it is acceptable; an entry that no longer matches any finding fails it too,
so the list stays true. Exit 0: clean; 1: findings or stale entries (one
line each); 2: it could not run (no PostgreSQL, no squawk).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from io import StringIO
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACKNOWLEDGED = ROOT / "ops" / "squawk" / "acknowledged.toml"
# The oldest PostgreSQL the project supports: rules that depend on the
# version (such as adding a column with a default) judge for it.
PG_VERSION = "13.0"


def load_acknowledged(path: Path = ACKNOWLEDGED) -> dict[tuple[str, str], str]:
    """Return {(migration, rule): why} from the acknowledgements file."""
    entries = tomllib.loads(path.read_text())["acknowledged"]
    acknowledged = {}
    for entry in entries:
        key = (entry["migration"], entry["rule"])
        why = entry.get("why", "").strip()
        if not why:
            raise ValueError(f"{path.name}: {key[0]} {key[1]} says no why")
        if key in acknowledged:
            raise ValueError(f"{path.name}: {key[0]} {key[1]} is listed twice")
        acknowledged[key] = why
    return acknowledged


def judge(findings: list[dict], acknowledged: dict[tuple[str, str], str]) -> list[str]:
    """Return one line per unacknowledged finding and per stale entry.

    Each finding is squawk's JSON (``file``, ``line``, ``rule_name``,
    ``message``) with ``migration`` added.
    """
    problems = []
    seen = set()
    for finding in findings:
        key = (finding["migration"], finding["rule_name"])
        seen.add(key)
        line = f"{finding['migration']}:{finding['line']}: {finding['rule_name']}"
        if key not in acknowledged and not any(p.startswith(line) for p in problems):
            problems.append(
                f"{finding['migration']}:{finding['line']}: "
                f"{finding['rule_name']}: {finding['message']}"
            )
    for migration, rule in sorted(set(acknowledged) - seen):
        problems.append(
            f"{migration}: {rule} is acknowledged in {ACKNOWLEDGED.name} "
            "but squawk no longer reports it; remove the entry"
        )
    return problems


def project_migrations() -> list[tuple[str, str]]:
    """Return (app label, migration name) of every migration of this project."""
    from django.apps import apps
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader

    # The apps at the top of this checkout; not Django's own, even when the
    # virtualenv that holds them lives inside the checkout (.venv).
    ours = {
        config.label
        for config in apps.get_app_configs()
        if Path(config.path).resolve().parent == ROOT
    }
    loader = MigrationLoader(connection, ignore_no_migrations=True)
    return sorted(key for key in loader.disk_migrations if key[0] in ours)


def sql_of(app_label: str, name: str) -> str:
    from django.core.management import call_command

    out = StringIO()
    call_command("sqlmigrate", app_label, name, stdout=out, no_color=True)
    return out.getvalue()


def run_squawk(files: dict[Path, str]) -> list[dict]:
    """Run squawk on `files` ({path: migration}); return its findings."""
    # The virtualenv's squawk first, also when it is not on PATH.
    here = Path(sys.executable).parent
    squawk = shutil.which("squawk", path=f"{here}{os.pathsep}{os.environ['PATH']}")
    if squawk is None:
        raise FileNotFoundError("squawk is not installed (pip install squawk-cli)")
    result = subprocess.run(
        [squawk, "--reporter", "json", "--pg-version", PG_VERSION, *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    # Exit 1 means findings; anything else, or no JSON, is squawk failing.
    if result.returncode not in (0, 1) or not result.stdout.strip():
        raise RuntimeError(f"squawk failed: {result.stderr.strip()[:200]}")
    findings = json.loads(result.stdout)
    for finding in findings:
        finding["migration"] = files[Path(finding["file"])]
    return findings


def main() -> int:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todoproject.settings")
    import django

    django.setup()
    from django.db import connection

    if connection.vendor != "postgresql":
        print(
            "error: squawk lints PostgreSQL's SQL; set DATABASE_URL to a "
            "PostgreSQL server",
            file=sys.stderr,
        )
        return 2
    try:
        acknowledged = load_acknowledged()
        with tempfile.TemporaryDirectory(prefix="squawk-") as folder:
            files = {}
            for app_label, name in project_migrations():
                path = Path(folder) / f"{app_label}.{name}.sql"
                path.write_text(sql_of(app_label, name))
                files[path] = f"{app_label}.{name}"
            findings = run_squawk(files)
    except (FileNotFoundError, RuntimeError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    problems = judge(findings, acknowledged)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        return 1
    print(
        f"squawk: {len(files)} migrations, {len(findings)} findings, "
        "all acknowledged in ops/squawk/acknowledged.toml"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
