"""The lock of a server's folder, and the watcher that holds it.

``start --watch PID`` forks a watcher: it holds FOLDER/lock, with its own
pid and PID written in it, and when PID ends, however it ends, or when
``stop`` asks (SIGTERM), it stops the server (and deletes the folder of a
temporary one). While it holds the lock, another owner is refused.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path

from embedded_pg import EmbeddedError, shown


def open_lock(folder: Path) -> int:
    return os.open(folder / "lock", os.O_RDWR | os.O_CREAT, 0o644)


def lock_owner(fd: int) -> tuple[int, int] | None:
    """Return (watcher pid, watched pid) written in the lock file."""
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        watcher, watched = os.read(fd, 100).decode().split()
        return int(watcher), int(watched)
    except ValueError:
        return None


def try_lock(fd: int) -> bool:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def refuse_in_use(folder: Path, fd: int, doing: str) -> EmbeddedError:
    owner = lock_owner(fd)
    by = f"another make run or make test (pid {owner[1]})" if owner else "another run"
    return EmbeddedError(
        f"cannot {doing}: the embedded PostgreSQL in {shown(folder)} is in use by "
        f"{by}; stop that one first (Ctrl-C there), or give this one its own "
        "folder (RUN_PG_DIR)"
    )


def alive(pid: int) -> bool:
    """Return whether `pid` runs (a zombie, ended but not yet reaped, does not)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def watch(
    folder: Path,
    fd: int,
    watched: int,
    stop_server: Callable[[], object],
    *,
    temporary: bool,
) -> None:
    """Fork a watcher that owns the server until `watched` ends or is told."""
    if os.fork():
        return
    # The watcher: its own session, so that a Ctrl-C or a killed process
    # group on the terminal leaves it to clean up; no inherited output, so
    # that a `$(...)` around `start` ends.
    try:
        os.setsid()
        null = os.open(os.devnull, os.O_RDWR)
        for target in (0, 1, 2):
            os.dup2(null, target)
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f"{os.getpid()} {watched}\n".encode())
        told = []
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: told.append(True))
        while not told and alive(watched):
            time.sleep(0.3)
        with contextlib.suppress(Exception):
            stop_server()
        if temporary:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
    finally:
        os._exit(0)


def release_watcher(folder: Path) -> None:
    """Ask the watcher of `folder`, if any, to stop the server; wait for it."""
    if not (folder / "lock").exists():
        return
    fd = open_lock(folder)
    try:
        if try_lock(fd):
            return
        owner = lock_owner(fd)
        if owner:
            with contextlib.suppress(ProcessLookupError):
                os.kill(owner[0], signal.SIGTERM)
        deadline = time.monotonic() + 60
        while not try_lock(fd):
            if time.monotonic() > deadline:
                raise EmbeddedError(
                    f"the watcher of {shown(folder)} did not stop the server "
                    "within 60 s"
                )
            time.sleep(0.1)
    finally:
        os.close(fd)
