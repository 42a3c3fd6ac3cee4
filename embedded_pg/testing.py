"""The tests' throwaway cluster: password-protected, stopped and deleted after.

`throwaway()` starts one for fault tests; `Cluster.standby()` adds a hot
standby of it.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

from embedded_pg import EmbeddedError
from embedded_pg.account import server_account
from embedded_pg.cluster import start
from embedded_pg.folder import HOST, stop_cluster


@dataclass(frozen=True)
class Cluster:
    """A running throwaway cluster: where it listens, its superuser."""

    host: str
    port: int
    user: str
    password: str
    folder: Path

    def url(self, dbname: str = "postgres", *, password: str | None = None) -> str:
        secret = quote(self.password if password is None else password, safe="")
        return f"postgres://{self.user}:{secret}@{self.host}:{self.port}/{dbname}"

    def stop(self) -> None:
        """Stop the server in place (fault tests); its data stays."""
        stop_cluster(self.folder, server_account())

    @contextlib.contextmanager
    def standby(self) -> Iterator[Cluster]:
        """Start a hot standby of this cluster; stop and delete it afterwards.

        A streaming replica made with pg_basebackup (``-R``: it follows this
        server from its first start), on a free loopback port, with the same
        superuser and roles. Read-only; it replays what this server writes.
        """
        folder = Path(tempfile.mkdtemp(prefix="todoproject-standby-"))
        folder.chmod(0o755)
        try:
            server = start(folder / "pg", standby_of=self.url(), temporary=True)
            yield Cluster(HOST, server.port, self.user, self.password, folder / "pg")
        finally:
            with contextlib.suppress(EmbeddedError):
                stop_cluster(folder / "pg", server_account())
            shutil.rmtree(folder, ignore_errors=True)

    def start(self) -> None:
        """Start the stopped server again, on the same port."""
        server = start(self.folder, port=self.port, temporary=True)
        if server.port != self.port:
            stop_cluster(self.folder, server_account())
            raise EmbeddedError(
                f"the throwaway cluster came back on port {server.port}, not "
                f"{self.port}"
            )


@contextlib.contextmanager
def throwaway() -> Iterator[Cluster]:
    """Start a password-protected cluster; stop and delete it afterwards.

    Like `make test`'s server, without fsync, on a free loopback port, but
    with scram-sha-256 for every connection, for tests of authentication
    and of a server that goes away.
    """
    folder = Path(tempfile.mkdtemp(prefix="todoproject-cluster-"))
    # As root the server's account must pass through it.
    folder.chmod(0o755)
    try:
        server = start(folder / "pg", temporary=True)
        url = urlsplit(server.url)
        yield Cluster(HOST, server.port, url.username, url.password, folder / "pg")
    finally:
        with contextlib.suppress(EmbeddedError):
            stop_cluster(folder / "pg", server_account())
        shutil.rmtree(folder, ignore_errors=True)
