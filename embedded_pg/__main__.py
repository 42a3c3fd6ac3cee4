"""The command line of the embedded PostgreSQL (`make run`, `make test`).

    python -m embedded_pg start FOLDER [--port N] [--trust] [--standby-of URL]
                                       [--watch PID [--temporary]]
    python -m embedded_pg stop FOLDER [--inside ROOT]
    python -m embedded_pg delete FOLDER --inside ROOT
    python -m embedded_pg status FOLDER
    python -m embedded_pg url FOLDER --role NAME --password-file FILE
                                     --database NAME
    python -m embedded_pg create-database URL
    python -m embedded_pg bin-dir
    python -m embedded_pg free-port [--from N]
    python -m embedded_pg host-port URL

`start` initialises the cluster in FOLDER when needed, starts it on
127.0.0.1 (the port asked for, or a free one when that is taken, and says
so), or reuses the server already running there, and prints the
superuser's URL on stdout (see embedded_pg/folder.py for the folder's
layout). Without --trust, every connection needs a password
(scram-sha-256); --trust is for throwaway test servers only.

--watch PID makes the server belong to process PID (the `make run` or
`make test` script): a small watcher holds FOLDER/lock, and when PID ends,
however it ends, or when `stop` asks, it stops the server. With
--temporary the server is a throwaway one: no fsync, and the watcher deletes
FOLDER after stopping it. While the watcher holds the lock, another
`start --watch` on FOLDER is refused and `delete` refuses.

`stop` and `delete` with --inside ROOT refuse a FOLDER that is not strictly
inside ROOT; `delete` also refuses a folder that does not look like one of
these. `url` prints a role's URL for the server running in FOLDER (its
password read from FILE). `create-database URL` connects as the URL's role
and creates its database, owned by that role, when missing. `free-port`
prints a free loopback port (the first from N with --from), `host-port
URL` the URL's host and port (defaults 127.0.0.1 and 5432), for scripts.

Progress goes to stderr as "==> ..." lines; a failure is one line
"error: ..." on stderr and exit status 1 (`status` exits 3 when stopped).
Nothing here deletes data except `delete` and a --temporary watcher.
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from embedded_pg import EmbeddedError, say, shown
from embedded_pg.binaries import bin_dir
from embedded_pg.cluster import delete, start, stop
from embedded_pg.folder import HOST, free_port, port_is_free, running_server

# How far `free-port --from N` looks.
PORT_RANGE = 100


def create_database(url: str) -> bool:
    """Create the database of `url`, owned by its role, when missing."""
    import psycopg
    from psycopg import sql

    name = unquote(urlsplit(url).path.lstrip("/"))
    with psycopg.connect(
        url, dbname="postgres", autocommit=True, connect_timeout=10
    ) as conn:
        if conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [name]
        ).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return True


def first_free_port(first: int | None) -> int:
    """Return a free loopback port: the first from `first`, else any."""
    if first is None:
        return free_port()
    for port in range(first, first + PORT_RANGE):
        if port_is_free(port):
            return port
    raise EmbeddedError(f"no free port from {first} to {first + PORT_RANGE - 1}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    start_parser = commands.add_parser("start", help="start or reuse the server")
    start_parser.add_argument("folder", type=Path, help="the server's folder")
    start_parser.add_argument(
        "--port", type=int, default=0, help="port to use if free (0: any free one)"
    )
    start_parser.add_argument(
        "--trust", action="store_true", help="no passwords (throwaway servers only)"
    )
    start_parser.add_argument(
        "--watch", type=int, metavar="PID", help="stop the server when PID ends"
    )
    start_parser.add_argument(
        "--temporary",
        action="store_true",
        help="with --watch: delete the folder after stopping",
    )
    start_parser.add_argument(
        "--standby-of",
        metavar="URL",
        help="a new folder becomes a streaming hot standby of this server "
        "(a superuser URL), made with pg_basebackup",
    )

    stop_parser = commands.add_parser("stop", help="stop the server")
    stop_parser.add_argument("folder", type=Path, help="the server's folder")
    stop_parser.add_argument(
        "--inside", type=Path, help="refuse a folder that is not inside this one"
    )

    delete_parser = commands.add_parser("delete", help="stop it and delete its data")
    delete_parser.add_argument("folder", type=Path, help="the server's folder")
    delete_parser.add_argument(
        "--inside",
        type=Path,
        required=True,
        help="refuse a folder that is not inside this one",
    )

    status_parser = commands.add_parser("status", help="say whether it runs")
    status_parser.add_argument("folder", type=Path, help="the server's folder")

    create_parser = commands.add_parser(
        "create-database", help="create the URL's database as the URL's role"
    )
    create_parser.add_argument("url", help="the role's database URL")

    url_parser = commands.add_parser("url", help="print a role's URL to the server")
    url_parser.add_argument("folder", type=Path, help="the server's folder")
    url_parser.add_argument("--role", required=True, help="the role's name")
    url_parser.add_argument(
        "--password-file", type=Path, required=True, help="the role's password"
    )
    url_parser.add_argument("--database", required=True, help="the database")

    commands.add_parser("bin-dir", help="print the wheel's bin folder")

    port_parser = commands.add_parser("free-port", help="print a free loopback port")
    port_parser.add_argument(
        "--from",
        dest="first",
        type=int,
        metavar="N",
        help=f"the first free one of N to N+{PORT_RANGE - 1} (default: any)",
    )

    host_port_parser = commands.add_parser(
        "host-port", help="print a URL's host and port"
    )
    host_port_parser.add_argument("url", help="a postgres:// URL")

    args = parser.parse_args(argv)
    try:
        if args.command == "start":
            if args.temporary and args.watch is None:
                parser.error("--temporary needs --watch")
            if not 0 <= args.port <= 65535:
                parser.error("--port must be between 0 and 65535")
            server = start(
                args.folder,
                port=args.port,
                trust=args.trust,
                watched=args.watch,
                temporary=args.temporary,
                standby_of=args.standby_of,
            )
            if not server.reused:
                say(
                    f"embedded PostgreSQL started in {shown(args.folder.absolute())} "
                    f"on {HOST}:{server.port} (pid {server.pid})"
                )
            print(server.url)
        elif args.command == "stop":
            if stop(args.folder, root=args.inside):
                say(f"stopped the embedded PostgreSQL in {shown(args.folder)}")
            else:
                say(f"no embedded PostgreSQL runs in {shown(args.folder)}")
        elif args.command == "delete":
            existed = args.folder.exists()
            delete(args.folder, root=args.inside)
            if existed:
                say(f"deleted {shown(args.folder)}")
            else:
                say(f"nothing to delete: {shown(args.folder)} does not exist")
        elif args.command == "status":
            info = running_server(args.folder.absolute())
            if info is None:
                print(f"stopped: {shown(args.folder)}")
                sys.exit(3)
            print(
                f"running: {shown(args.folder)} on {HOST}:{info['port']} "
                f"(pid {info['pid']}, {info['status']})"
            )
        elif args.command == "url":
            info = running_server(args.folder.absolute())
            if info is None:
                raise EmbeddedError(
                    f"no embedded PostgreSQL runs in {shown(args.folder)}; "
                    "start it with: make run"
                )
            password = args.password_file.read_text().strip()
            print(
                f"postgres://{quote(args.role, safe='')}:{quote(password, safe='')}"
                f"@{HOST}:{info['port']}/{quote(args.database, safe='')}"
            )
        elif args.command == "create-database":
            import psycopg

            try:
                if create_database(args.url):
                    say("created the application's database")
            except psycopg.Error as exc:
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise EmbeddedError(f"cannot create the database: {reason}") from None
        elif args.command == "bin-dir":
            print(bin_dir())
        elif args.command == "free-port":
            print(first_free_port(args.first))
        elif args.command == "host-port":
            url = urlsplit(args.url)
            print(url.hostname or HOST, url.port or 5432)
    except EmbeddedError as exc:
        sys.exit(f"error: {exc}")
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            sys.exit(f"error: no space left on the device of {exc.filename or '?'}")
        sys.exit(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))


if __name__ == "__main__":
    main()
