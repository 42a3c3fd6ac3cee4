"""Drive `python -m embedded_pg` as `make run` and `make test` do."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import psycopg

ROOT = Path(__file__).resolve().parents[2]


def embedded(*args, python_flags=()) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *python_flags, "-m", "embedded_pg", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def start(folder: Path, *args) -> str:
    """Start the server in `folder`; return its superuser URL."""
    result = embedded("start", folder, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True, connect_timeout=5)


def postmaster_pid(folder: Path) -> int:
    return int((folder / "data" / "postmaster.pid").read_text().split()[0])


def is_running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(condition, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def scratch_folder(prefix: str) -> Path:
    # As root the server runs as another account, which must reach it
    # (pytest's tmp_path is private to this one).
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def stop_servers_in(path: Path) -> None:
    for data in path.glob("**/data/PG_VERSION"):
        embedded("stop", data.parent.parent)
