"""Create or repair a login role of the application; print its URL.

    python scripts/pg_role.py ADMIN_URL [--role NAME] [--owner]
                              [--database NAME] [--password-file PATH]
                              [--host H --port P] [--drop-database NAME]
                              [--grant-to OWNER]

ADMIN_URL is a superuser (or CREATEROLE) connection. Without --owner the
role is the runtime role: LOGIN and nothing else, explicitly neither
SUPERUSER nor BYPASSRLS (either would skip every row-level security policy)
nor CREATEDB or CREATEROLE. With --owner it is the owner that migrates:
LOGIN CREATEDB, still no SUPERUSER and no BYPASSRLS. Its password is random, kept in
--password-file when given (so a later run reuses it) and set again on each
run. Prints the role's database URL (the admin URL's host and port unless
--host/--port say otherwise, e.g. a PgBouncer in front; --database as the
database name) on stdout; errors are one line on stderr, exit 1.
--drop-database first drops a leftover database, disconnecting its clients.
--grant-to makes OWNER a member of the (runtime) role: ``migrate``, run as
OWNER, then resets the session defaults the role may set on itself
(``ALTER ROLE CURRENT_USER SET row_security = off``) by acting as it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg
from psycopg import sql


def runtime_url(
    admin_url: str,
    role: str,
    password: str,
    database: str,
    host: str | None = None,
    port: int | None = None,
) -> str:
    parts = urlsplit(admin_url)
    host = host or parts.hostname or ""
    port = port or parts.port
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(role, safe='')}:{quote(password, safe='')}@{host}"
    if port:
        netloc += f":{port}"
    return urlunsplit((parts.scheme, netloc, f"/{database}", parts.query, ""))


def read_password(path: Path | None) -> str:
    if path and path.exists():
        return path.read_text().strip()
    password = secrets.token_urlsafe(24)
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Created private: never readable by others, not even briefly.
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(password + "\n")
    return password


def drop_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)
            )
        )


def ensure_role(admin_url: str, role: str, password: str, *, owner: bool) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_roles WHERE rolname = %s", [role]
        ).fetchone()
        verb = sql.SQL("ALTER" if exists else "CREATE")
        conn.execute(
            sql.SQL(
                "{} ROLE {} LOGIN {} NOSUPERUSER NOBYPASSRLS NOCREATEROLE PASSWORD {}"
            ).format(
                verb,
                sql.Identifier(role),
                sql.SQL("CREATEDB" if owner else "NOCREATEDB"),
                sql.Literal(password),
            )
        )
        if not owner:
            # pg_stat_activity shows every session of a role to the others,
            # query text included, and Django's client-side binding puts
            # values in that text: the runtime role's sessions report none.
            # Only a superuser may set this (a managed service's own role
            # usually cannot: see docs/threat-model.md).
            (superuser,) = conn.execute(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
            ).fetchone()
            if superuser:
                conn.execute(
                    sql.SQL("ALTER ROLE {} SET track_activities = off").format(
                        sql.Identifier(role)
                    )
                )


def grant_to(admin_url: str, role: str, member: str) -> None:
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("GRANT {} TO {}").format(
                sql.Identifier(role), sql.Identifier(member)
            )
        )


def reassign(admin_url: str, database: str, old: str, new: str) -> None:
    """Give `new` everything `old` owns in `database` (and the database).

    For a database made before the owner and the runtime role were two
    roles: the runtime role must own nothing. Nothing when the database or
    `old` does not exist.
    """
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=10) as conn:
        found = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = %s), "
            "EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s)",
            [database, old],
        ).fetchone()
    if not all(found):
        return
    with psycopg.connect(
        admin_url, dbname=database, autocommit=True, connect_timeout=10
    ) as conn:
        conn.execute(
            sql.SQL("REASSIGN OWNED BY {} TO {}").format(
                sql.Identifier(old), sql.Identifier(new)
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("admin_url", help="superuser connection URL")
    parser.add_argument("--role", default="todoproject_app", help="role name")
    parser.add_argument(
        "--owner", action="store_true", help="the owner that migrates (CREATEDB)"
    )
    parser.add_argument(
        "--database", default="todoproject", help="database name for the URL"
    )
    parser.add_argument(
        "--password-file", type=Path, help="keep the role's password here"
    )
    parser.add_argument(
        "--reassign-from",
        metavar="ROLE",
        help="give this role's objects in --database to --role first",
    )
    parser.add_argument(
        "--grant-to",
        metavar="OWNER",
        help="make OWNER a member of --role, so that migrate can reset its defaults",
    )
    parser.add_argument("--host", help="host for the printed URL")
    parser.add_argument("--port", type=int, help="port for the printed URL")
    parser.add_argument(
        "--drop-database", metavar="NAME", help="drop this database first"
    )
    args = parser.parse_args()
    url = args.admin_url.replace("postgresql://", "postgres://", 1)
    try:
        if args.drop_database:
            drop_database(url, args.drop_database)
        password = read_password(args.password_file)
        ensure_role(url, args.role, password, owner=args.owner)
        if args.grant_to:
            grant_to(url, args.role, args.grant_to)
        if args.reassign_from:
            reassign(url, args.database, args.reassign_from, args.role)
    except psycopg.Error as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        sys.exit(f"error: cannot create role {args.role}: {reason}")
    print(runtime_url(url, args.role, password, args.database, args.host, args.port))


if __name__ == "__main__":
    main()
