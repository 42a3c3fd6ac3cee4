"""One folder, one server: create its cluster, start it, find it, stop it.

FOLDER holds one server: `data/` (the cluster, created on first start),
`server.log`, `superuser.password` and `lock`. A server that is not
`durable` has no fsync. As root, when the server's account cannot reach
FOLDER, FOLDER/data and FOLDER/server.log point to a folder in
$EMBEDDED_PG_DATA_HOME or /var/lib/todoproject.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import socket
import tempfile
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

from embedded_pg import CLUSTER_NAME, EmbeddedError, last_line, say, shown
from embedded_pg.account import ACCOUNT, check_reachable, chown
from embedded_pg.programs import run_tool

# Where root keeps the cluster of a folder that ACCOUNT cannot reach.
DATA_HOME = Path(os.environ.get("EMBEDDED_PG_DATA_HOME") or "/var/lib/todoproject")
# What the server's account itself must reach in a folder.
SERVER_FILES = ("data", "server.log")
SUPERUSER = "postgres"
HOST = "127.0.0.1"
START_TIMEOUT = 30
# A throwaway server trades durability for speed: its data is deleted anyway.
THROWAWAY_OPTIONS = "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"


def data_dir(folder: Path) -> Path:
    return _followed(folder / "data")


def log_file(folder: Path) -> Path:
    return _followed(folder / "server.log")


def _followed(path: Path) -> Path:
    """Return where `path` leads: the server must be given the real path."""
    return path.resolve() if path.is_symlink() else path


def place_outside(folder: Path, account: tuple[int, int]) -> None:
    """Keep the cluster and its log where `account` can reach them.

    For root with FOLDER in a folder closed to others (/root/...): they go
    to DATA_HOME/embedded-<hash of FOLDER>/ and FOLDER/data and
    FOLDER/server.log point there; everything else stays in FOLDER.
    """
    outside = DATA_HOME / f"embedded-{_folder_key(folder)}"
    if all((folder / name).is_symlink() for name in SERVER_FILES):
        check_reachable(outside, account)
        return
    if (folder / "data").exists() and not (folder / "data").is_symlink():
        # A cluster made in place before: moving it is the owner's choice.
        check_reachable(folder / "data", account)
    say(
        f"as root the server runs as {ACCOUNT}, which cannot reach "
        f"{shown(folder)}: its cluster and log are kept in {outside}"
    )
    try:
        if not DATA_HOME.exists():
            DATA_HOME.mkdir(parents=True)
            # Made here, so its mode is the project's to choose.
            DATA_HOME.chmod(0o755)
        outside.mkdir(exist_ok=True)
        outside.chmod(0o755)
        for name in SERVER_FILES:
            link = folder / name
            if link.is_symlink():
                link.unlink()
            elif link.exists():
                # A log of a server that ran in place (the cluster was
                # refused above): kept beside the new one.
                link.rename(outside / f"{name}.before")
            link.symlink_to(outside / name)
    except OSError as exc:
        raise EmbeddedError(
            f"cannot keep the embedded PostgreSQL's data in {outside}: "
            f"{exc.strerror}; set EMBEDDED_PG_DATA_HOME to a folder root can write"
        ) from None
    check_reachable(outside, account)


def _folder_key(folder: Path) -> str:
    return hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]


def outside_targets(folder: Path) -> list[Path]:
    """Return the folders outside FOLDER that hold its data (place_outside)."""
    targets = []
    for name in SERVER_FILES:
        link = folder / name
        if link.is_symlink():
            target = link.resolve().parent
            if target.parent == DATA_HOME.resolve() and target not in targets:
                targets.append(target)
    return targets


def read_pidfile(folder: Path) -> dict | None:
    """Return postmaster.pid's pid, port and status, or None without one."""
    try:
        lines = (data_dir(folder) / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EmbeddedError(
            f"cannot read {shown(data_dir(folder))}/postmaster.pid: {exc.strerror}"
        ) from None

    def field(index: int) -> str:
        return lines[index].strip() if len(lines) > index else ""

    try:
        pid = int(field(0))
    except ValueError:
        pid = 0
    port = int(field(3)) if field(3).isdigit() else 0
    return {"pid": pid, "port": port, "status": field(7)}


def is_our_server(pid: int, folder: Path) -> bool:
    """Return whether `pid` is a running PostgreSQL server for `folder`."""
    import psutil

    if pid <= 0:
        return False
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        name = process.name()
        cmdline = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    data = str(data_dir(folder).resolve())
    return name.startswith("postgres") and any(
        arg == data or arg.rstrip("/") == data for arg in cmdline
    )


def running_server(folder: Path) -> dict | None:
    """Return the pidfile of the server running in `folder`, or None.

    A postmaster.pid whose process is gone, or is some other program (a pid
    reused after a crash or a reboot), is removed, and that is said.
    """
    info = read_pidfile(folder)
    if info is None:
        return None
    if is_our_server(info["pid"], folder):
        return info
    pidfile = data_dir(folder) / "postmaster.pid"
    # PostgreSQL may have been stopping at that instant; look again.
    time.sleep(0.2)
    if not pidfile.exists():
        return None
    with contextlib.suppress(FileNotFoundError):
        pidfile.unlink()
    say(
        f"removed a stale postmaster.pid from {shown(data_dir(folder))} "
        f"(pid {info['pid']} is not a PostgreSQL server of this folder: "
        "left by a crash or a reboot)"
    )
    return None


def port_is_free(port: int) -> bool:
    """Return whether nothing listens on or holds `port` on HOST.

    SO_REUSEADDR, as PostgreSQL binds: a connection of a server that just
    stopped, left in TIME-WAIT, does not make the port taken, so that a
    quick restart keeps its port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def superuser_url(folder: Path, port: int) -> str:
    password = ""
    with contextlib.suppress(FileNotFoundError):
        password = ":" + (folder / "superuser.password").read_text().strip()
    return f"postgres://{SUPERUSER}{password}@{HOST}:{port}/postgres"


def make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        # As root the server's account must pass through it.
        if os.geteuid() == 0:
            folder.chmod(folder.stat().st_mode | 0o755)
        probe = folder / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise EmbeddedError(
            f"cannot write to the embedded PostgreSQL folder {shown(folder)}: "
            f"{exc.strerror}"
        ) from None


def initialise(
    folder: Path, account: tuple[int, int] | None, *, trust: bool, durable: bool
) -> None:
    """Create the cluster in FOLDER/data with initdb."""
    data = data_dir(folder)
    say(f"creating a PostgreSQL cluster in {shown(data)} (first start)")
    try:
        data.mkdir(mode=0o700, exist_ok=True)
        chown(data, account)
        password_file = folder / "superuser.password"
        password = secrets.token_urlsafe(24)
        if not trust:
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
    except OSError as exc:
        raise EmbeddedError(f"cannot create {shown(data)}: {exc.strerror}") from None
    args = [
        "-D",
        str(data),
        "-U",
        SUPERUSER,
        "--encoding=UTF8",
        # Unicode-aware lower() and the same behaviour on every platform,
        # without depending on the operating system's locales.
        "--locale-provider=builtin",
        "--builtin-locale=C.UTF-8",
        "--no-locale",
        "--no-instructions",
    ]
    if not durable:
        args.append("--no-sync")
    with tempfile.NamedTemporaryFile("w", suffix=".pw") as pwfile:
        if trust:
            args += ["--auth=trust"]
        else:
            pwfile.write(password + "\n")
            pwfile.flush()
            chown(Path(pwfile.name), account)
            args += [
                "--auth-host=scram-sha-256",
                "--auth-local=scram-sha-256",
                f"--pwfile={pwfile.name}",
            ]
        result = run_tool("initdb", args, account, timeout=120)
    if result.returncode != 0:
        # Leave no half-made cluster that the next start would trip over.
        if data.exists():
            shutil.rmtree(data, ignore_errors=True)
        raise EmbeddedError(
            f"initdb failed in {shown(data)}: {last_line(result.stdout)}"
        )


def clone(folder: Path, account: tuple[int, int] | None, primary_url: str) -> None:
    """Make FOLDER/data a streaming standby of the server at `primary_url`.

    ``pg_basebackup -R`` copies the primary's data and writes the settings
    that make the copy a hot standby replaying the primary's WAL over a
    replication connection (initdb's pg_hba.conf allows those on the
    loopback, with the same authentication as other connections). The
    standby has the primary's superuser, whose password `folder` keeps too.
    """
    url = urlsplit(primary_url)
    data = data_dir(folder)
    say(f"copying the primary at {url.hostname}:{url.port} into {shown(data)}")
    try:
        data.mkdir(mode=0o700, exist_ok=True)
        chown(data, account)
        if url.password:
            password_file = folder / "superuser.password"
            password_file.write_text(unquote(url.password) + "\n")
            password_file.chmod(0o600)
    except OSError as exc:
        raise EmbeddedError(f"cannot create {shown(data)}: {exc.strerror}") from None
    conninfo = (
        f"host={url.hostname} port={url.port or 5432} user={unquote(url.username)} "
        f"application_name={folder.name}"
    )
    if url.password:
        conninfo += f" password={unquote(url.password)}"
    result = run_tool(
        "pg_basebackup",
        ["-D", str(data), "-R", "-X", "stream", "-c", "fast", "-d", conninfo],
        account,
        timeout=300,
    )
    if result.returncode != 0:
        # Leave no half-made copy that the next start would trip over.
        shutil.rmtree(data, ignore_errors=True)
        raise EmbeddedError(f"pg_basebackup failed: {last_line(result.stdout)}")


def private_log(log: Path, account: tuple[int, int] | None) -> None:
    """Create `log` readable by its owner alone (0600), or make it so.

    With ``log_statement`` or ``debug_print_parse`` on, the server log
    holds statements with their values (other users' task titles): no other
    local account may read it. The mode is given at creation, so the file
    is never world-readable, not even for a moment (the umask only takes
    bits away); a log made before under the umask (0644) is narrowed.
    pg_ctl appends to it and keeps its mode; the data folder's own files
    keep the modes PostgreSQL gives them.
    """
    descriptor = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.fchmod(descriptor, 0o600)
        if account is not None:
            os.fchown(descriptor, *account)
    finally:
        os.close(descriptor)


def start_server(
    folder: Path, account: tuple[int, int] | None, port: int, *, durable: bool
) -> tuple[int, int]:
    """Start the initialised cluster; return (pid, port)."""
    log = log_file(folder)
    try:
        private_log(log, account)
    except OSError as exc:
        raise EmbeddedError(f"cannot write {shown(log)}: {exc.strerror}") from None
    asked = port
    for _ in range(3):
        if port == 0 or not port_is_free(port):
            chosen = free_port()
            if port:
                say(f"port {port} is taken; the embedded PostgreSQL uses {chosen}")
            port = chosen
        # TCP on the loopback only: no socket file whose path could be too
        # long or collide with another server's.
        options = (
            f"-p {port} -c listen_addresses={HOST} -c unix_socket_directories='' "
            f"-c cluster_name={CLUSTER_NAME}"
        )
        if not durable:
            options += f" {THROWAWAY_OPTIONS}"
        logged = log.stat().st_size
        result = run_tool(
            "pg_ctl",
            [
                "start",
                "-D",
                str(data_dir(folder)),
                "-l",
                str(log),
                "-w",
                "-t",
                str(START_TIMEOUT),
                "-o",
                options,
            ],
            account,
            timeout=START_TIMEOUT + 10,
            cwd=data_dir(folder),
        )
        info = read_pidfile(folder)
        if result.returncode == 0 and info and info["status"] == "ready":
            return info["pid"], info["port"]
        news = log_since(log, logged)
        if "could not bind" in news:
            # Taken between the check and the start: try another port.
            port = free_port()
            continue
        reason = fatal_reason(news) or last_line(result.stdout)
        raise EmbeddedError(
            f"the embedded PostgreSQL did not start: {reason} (log: {shown(log)})"
        )
    raise EmbeddedError(f"no free port for the embedded PostgreSQL (asked {asked})")


def log_since(log: Path, offset: int) -> str:
    """Return what the server wrote to `log` after `offset` bytes."""
    try:
        with log.open("rb") as file:
            file.seek(offset)
            return file.read().decode(errors="replace")
    except OSError:
        return ""


def fatal_reason(text: str) -> str:
    """Return the last FATAL or PANIC message in the server's output `text`."""
    for line in reversed(text.splitlines()):
        for level in ("FATAL:", "PANIC:"):
            if level in line:
                return line.split(level, 1)[1].strip()
    return ""


def wait_until_ready(folder: Path, info: dict) -> dict:
    """Wait for a server that is running but still starting up."""
    deadline = time.monotonic() + START_TIMEOUT
    while info and info["status"] != "ready":
        if time.monotonic() > deadline:
            raise EmbeddedError(
                f"the embedded PostgreSQL in {shown(folder)} (pid {info['pid']}) "
                f"runs but has not been ready for {START_TIMEOUT} s (status "
                f"{info['status'] or 'unknown'}); see {shown(log_file(folder))}, "
                "or stop it with: make db-stop"
            )
        time.sleep(0.2)
        info = running_server(folder)
    if info is None:
        raise EmbeddedError(
            f"the embedded PostgreSQL in {shown(folder)} stopped while starting; "
            f"see {shown(log_file(folder))}"
        )
    return info


def stop_cluster(folder: Path, account: tuple[int, int] | None) -> bool:
    """Stop the server in `folder`; return whether one was running."""
    info = running_server(folder)
    if info is None:
        return False
    result = run_tool(
        "pg_ctl",
        ["stop", "-D", str(data_dir(folder)), "-m", "fast", "-w", "-t", "30"],
        account,
        cwd=data_dir(folder),
    )
    if result.returncode != 0 and running_server(folder) is not None:
        result = run_tool(
            "pg_ctl",
            ["stop", "-D", str(data_dir(folder)), "-m", "immediate", "-w"],
            account,
            cwd=data_dir(folder),
        )
        if result.returncode != 0:
            raise EmbeddedError(
                f"cannot stop the embedded PostgreSQL in {shown(folder)}: "
                f"{last_line(result.stdout)}"
            )
    return True
