"""scripts/wait_for_port.py: what `make run` waits on before it says "serving"."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "wait_for_port.py"


def closed_port() -> socket.socket:
    """Return a socket bound to a port that refuses connections (no listen)."""
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))
    return bound


def wait_for_port(port: int, pid: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), "127.0.0.1", str(port), str(pid)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_exits_0_once_the_port_accepts_connections():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        waiting = wait_for_port(server.getsockname()[1], os.getpid())

        assert waiting.wait(timeout=30) == 0


def test_exits_1_when_the_server_ends_first():
    with closed_port() as bound, subprocess.Popen(["sleep", "1"]) as server:
        waiting = wait_for_port(bound.getsockname()[1], server.pid)
        server.wait()

        assert waiting.wait(timeout=30) == 1


def test_ctrl_c_while_waiting_exits_130_without_a_traceback():
    with closed_port() as bound, subprocess.Popen(["sleep", "60"]) as server:
        waiting = wait_for_port(bound.getsockname()[1], server.pid)
        # Long enough for the interpreter to start and the probing to begin.
        time.sleep(2)
        waiting.send_signal(signal.SIGINT)
        _, stderr = waiting.communicate(timeout=30)
        server.kill()

    assert waiting.returncode == 130
    assert stderr == ""
