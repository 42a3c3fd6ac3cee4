"""Start, stop and delete the embedded PostgreSQL in a folder: the commands.

`start()` initialises the cluster when needed (embedded_pg.folder), starts
it on 127.0.0.1 (the port asked for, or a free one when that is taken, and
says so), or reuses the server already running there. Without `trust`,
every connection needs a password (scram-sha-256); `trust` is for throwaway
test servers only. A `temporary` server has no fsync. As root the server
runs as an account of its own (embedded_pg.account).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from embedded_pg import EmbeddedError, say, shown
from embedded_pg.account import server_account, server_bin_dir, unreachable_parent
from embedded_pg.folder import (
    clone,
    data_dir,
    initialise,
    make_folder,
    outside_targets,
    place_outside,
    running_server,
    start_server,
    stop_cluster,
    superuser_url,
    wait_until_ready,
)
from embedded_pg.watcher import (
    open_lock,
    refuse_in_use,
    release_watcher,
    try_lock,
    watch,
)

# What a folder of ours may hold (app.password and owner.password are
# scripts/pg_role.py's, for `make run`); `delete` refuses a folder with
# anything else in it.
OWN_FILES = {
    "data",
    "server.log",
    "superuser.password",
    "app.password",
    "owner.password",
    "lock",
    ".write-test",
}


@dataclass(frozen=True)
class Server:
    url: str
    port: int
    pid: int
    reused: bool


def start(
    folder: Path,
    *,
    port: int = 0,
    trust: bool = False,
    watched: int | None = None,
    temporary: bool = False,
    standby_of: str | None = None,
) -> Server:
    """Start (or reuse) the server in `folder`; return how to reach it.

    With `standby_of` (a superuser URL of a running server), a folder
    without a cluster gets a streaming hot standby of that server instead
    of a new cluster; one that has it starts and follows the primary again.
    """
    folder = folder.absolute()
    account = server_account()
    server_bin_dir(account)
    make_folder(folder)
    if account is not None and unreachable_parent(folder, account) is not None:
        place_outside(folder, account)
    fd = open_lock(folder)
    try:
        if not try_lock(fd):
            raise refuse_in_use(folder, fd, "start")
        if not (data_dir(folder) / "PG_VERSION").exists():
            if data_dir(folder).exists() and any(data_dir(folder).iterdir()):
                raise EmbeddedError(
                    f"{shown(data_dir(folder))} is not empty but holds no "
                    "PostgreSQL cluster; move it away or delete it with: "
                    "make db-delete"
                )
            if standby_of:
                clone(folder, account, standby_of)
            else:
                initialise(folder, account, trust=trust, durable=not temporary)
        info = running_server(folder)
        if info is not None:
            info = wait_until_ready(folder, info)
            pid, port, reused = info["pid"], info["port"], True
            say(
                f"reusing the embedded PostgreSQL already running in "
                f"{shown(folder)} (pid {pid}, port {port})"
            )
        else:
            pid, port = start_server(folder, account, port, durable=not temporary)
            reused = False
        server = Server(superuser_url(folder, port), port, pid, reused)
        if watched is not None:
            watch(
                folder,
                fd,
                watched,
                lambda: stop_cluster(folder, account),
                temporary=temporary,
            )
        return server
    finally:
        os.close(fd)


def inside(folder: Path, root: Path) -> bool:
    folder, root = folder.resolve(), root.resolve()
    return folder != root and root in folder.parents


def stop(folder: Path, *, root: Path | None = None) -> bool:
    """Stop the server in `folder`; return whether one was running."""
    folder = folder.absolute()
    if root is not None and not inside(folder, root):
        raise EmbeddedError(
            f"refusing to stop a server in {folder}: it is not a folder inside {root}"
        )
    if not folder.exists():
        return False
    was_running = running_server(folder) is not None
    release_watcher(folder)
    if stop_cluster(folder, server_account()):
        was_running = True
    return was_running


def delete(folder: Path, *, root: Path) -> None:
    """Stop the server in `folder` and delete the folder, inside `root` only."""
    folder = folder.absolute()
    if not inside(folder, root):
        raise EmbeddedError(
            f"refusing to delete {folder}: it is not a folder inside {root}"
        )
    if not folder.exists():
        return
    if folder.is_symlink() or not folder.is_dir():
        raise EmbeddedError(f"refusing to delete {folder}: not a plain folder")
    strangers = {entry.name for entry in folder.iterdir()} - OWN_FILES
    if strangers:
        raise EmbeddedError(
            f"refusing to delete {folder}: it holds {', '.join(sorted(strangers))}, "
            "which an embedded PostgreSQL folder does not"
        )
    fd = open_lock(folder)
    try:
        if not try_lock(fd):
            raise refuse_in_use(folder, fd, "delete it")
        stop_cluster(folder, server_account())
        outside = outside_targets(folder)
        shutil.rmtree(folder)
        for target in outside:
            shutil.rmtree(target)
    finally:
        os.close(fd)
