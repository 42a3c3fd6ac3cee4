"""Releases, their code, and what a database holds: for the upgrade tests.

A release is a commit of this repository (tests/data/releases.json, the
versions of CHANGELOG.md); an intermediate commit is one of main between
releases, listed there too. ``release_code()`` writes its tree to a folder
with ``git archive``, and ``run_manage()`` runs that code's ``manage.py``
on a database, in the same virtualenv. ``schema()`` and ``rows()`` read a
database as a superuser, past row-level security, so that two databases
can be compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from tests.utils import ROOT, clean_env

RELEASES_FILE = ROOT / "tests" / "data" / "releases.json"
RELEASES = json.loads(RELEASES_FILE.read_text())["releases"]
# Commits of main between releases whose databases no release made alike
# (each says why); upgraded like a release, but not in CHANGELOG.md.
INTERMEDIATE = json.loads(RELEASES_FILE.read_text())["intermediate"]
SECRET_KEY = "insecure-test-only-secret-key-0123456789abcdef"


def release_code(commit: str, folder: Path) -> Path:
    """Write the tree of `commit` into `folder`; return `folder`."""
    archive = folder.with_suffix(".tar")
    result = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", "-o", str(archive), commit],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"cannot read release commit {commit[:12]} from git (a clone with "
            f"its full history is needed): {result.stderr.strip()}"
        )
    # The "data" filter where this Python has it (3.11.4 and later): the
    # archive is this repository's own, but nothing in it needs more.
    safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    with tarfile.open(archive) as tar:
        tar.extractall(folder, **safe)
    archive.unlink()
    return folder


def run_manage(code: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """Run ``manage.py`` of the checkout at `code` with only `env` configured.

    Fails the test with the command's own output when it exits non-zero,
    unless ``check`` is passed as "no".
    """
    check = env.pop("check", "yes") == "yes"
    environment = {
        key: value for key, value in clean_env().items() if key != "PYTHONPATH"
    }
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=code,
        env={
            **environment,
            "DJANGO_ENV_FILE": os.devnull,
            "DJANGO_SECRET_KEY": SECRET_KEY,
            **env,
        },
        capture_output=True,
        text=True,
        timeout=180,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"manage.py {' '.join(args)} in {code} exited {result.returncode}:\n"
            f"{result.stdout}{result.stderr}"
        )
    return result


def with_database(url: str, name: str) -> str:
    """Return `url` with its database name replaced by `name`."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


@dataclass(frozen=True)
class Servers:
    """The suite's roles on its server (tests/conftest.py, scripts/test.sh)."""

    owner_url: str
    runtime_url: str
    superuser_url: str
    runtime_role: str

    def create_database(self, name: str) -> None:
        """Create database `name` as the owner, as a deployment would."""
        self.drop_database(name)
        with psycopg.connect(
            with_database(self.owner_url, "postgres"), autocommit=True
        ) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop_database(self, name: str) -> None:
        with psycopg.connect(self.superuser_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)
                )
            )

    def superuser(self, name: str) -> psycopg.Connection:
        """A superuser's connection to database `name`, in autocommit."""
        return psycopg.connect(self.superuser_url, dbname=name, autocommit=True)


def _acl(kind: str, relation: str, acl: str, where: str) -> str:
    # Each privilege a row of its own: the order of an ACL's items is the
    # order of the grants, which an upgrade need not repeat.
    return (
        f"SELECT '{kind}', o.object, o.acl IS NULL, "
        "coalesce(nullif(a.grantee, 0)::regrole::text, 'PUBLIC'), "
        "a.privilege_type, a.is_grantable "
        f"FROM (SELECT {relation} AS object, {acl} AS acl {where}) AS o "
        "LEFT JOIN LATERAL aclexplode(o.acl) AS a ON true"
    )


IN_SCHEMA = "relnamespace = current_schema()::regnamespace"
NOT_AN_EXTENSIONS = (
    "NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid "
    "AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e')"
)

# What makes two migrated databases the same to the application and to
# its guarantees: policies with their expressions, functions with their
# bodies, owners, settings and who may run them, triggers, indexes,
# constraints, columns, every privilege, and the migrations applied.
SCHEMA = {
    "policies": "SELECT tablename, policyname, permissive, roles::text, cmd, "
    "qual, with_check FROM pg_policies WHERE schemaname = current_schema()",
    "relations": "SELECT relname::text, relkind::text, "
    "pg_get_userbyid(relowner)::text, relrowsecurity, relforcerowsecurity "
    f"FROM pg_class WHERE {IN_SCHEMA} AND relkind IN ('r', 'p', 'S', 'v', 'm')",
    "functions": "SELECT p.oid::regprocedure::text, pg_get_functiondef(p.oid), "
    "pg_get_userbyid(p.proowner)::text, p.prosecdef, p.proconfig::text "
    "FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace "
    f"AND {NOT_AN_EXTENSIONS}",
    "triggers": "SELECT tgrelid::regclass::text, tgname::text, "
    "pg_get_triggerdef(oid), tgenabled::text FROM pg_trigger WHERE NOT tgisinternal",
    "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes "
    "WHERE schemaname = current_schema()",
    "constraints": "SELECT conrelid::regclass::text, conname::text, "
    "pg_get_constraintdef(oid), condeferrable, condeferred, convalidated "
    "FROM pg_constraint WHERE connamespace = current_schema()::regnamespace",
    "columns": "SELECT table_name::text, column_name::text, data_type::text, "
    "is_nullable::text, column_default::text, character_maximum_length "
    "FROM information_schema.columns WHERE table_schema = current_schema()",
    "extensions": "SELECT extname::text, extversion FROM pg_extension",
    "privileges": " UNION ALL ".join(
        [
            _acl(
                "relation",
                "relname::text",
                "relacl",
                f"FROM pg_class WHERE {IN_SCHEMA}",
            ),
            _acl(
                "function",
                "p.oid::regprocedure::text",
                "proacl",
                "FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace "
                f"AND {NOT_AN_EXTENSIONS}",
            ),
            _acl(
                "schema",
                "nspname::text",
                "nspacl",
                "FROM pg_namespace WHERE nspname = current_schema()",
            ),
            _acl(
                "database",
                "'the database'",
                "datacl",
                "FROM pg_database WHERE datname = current_database()",
            ),
        ]
    ),
    "role settings": "SELECT setrole::regrole::text, setconfig::text "
    "FROM pg_db_role_setting WHERE setdatabase = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())",
    "migrations": "SELECT app::text, name::text FROM django_migrations",
}


def schema(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    """Return what `SCHEMA` reads of the database of `conn`, each part sorted."""
    return {
        part: sorted(conn.execute(query).fetchall(), key=repr)
        for part, query in SCHEMA.items()
    }


def table_columns(conn: psycopg.Connection) -> dict[str, list[str]]:
    """Return {table: its columns} for every table, the migration history aside."""
    found: dict[str, list[str]] = {}
    for table, column in conn.execute(
        "SELECT table_name::text, column_name::text FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name <> 'django_migrations' "
        "AND table_name IN (SELECT relname FROM pg_class WHERE relkind = 'r') "
        "ORDER BY table_name, ordinal_position"
    ):
        found.setdefault(table, []).append(column)
    return found


def rows(
    conn: psycopg.Connection, columns: dict[str, list[str]] | None = None
) -> dict[str, set[str]]:
    """Return every row of every table as JSON text.

    Of the tables and columns in `columns` only, when given (those a
    database had before an upgrade that may add some); else of all.
    """
    columns = columns or table_columns(conn)
    return {
        table: {
            text
            for (text,) in conn.execute(
                sql.SQL("SELECT json_build_object({})::text FROM {}").format(
                    sql.SQL(", ").join(
                        sql.SQL("{}, {}").format(sql.Literal(n), sql.Identifier(n))
                        for n in names
                    ),
                    sql.Identifier(table),
                )
            )
        }
        for table, names in columns.items()
    }
