"""scripts/leash.py: the command ends with its leash, quietly, however asked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.utils import ROOT

# A server that takes a moment to end on SIGTERM, so that more signals
# reach the leash while it waits for the command to end.
SERVER = """
import signal, sys, time
signal.signal(signal.SIGTERM, lambda signum, frame: (time.sleep(1), sys.exit(0)))
time.sleep(60)
"""
COMMAND = [sys.executable, "-c", SERVER]


def leash(*pids: int) -> subprocess.Popen:
    """Start the leash on COMMAND in a process group of its own; wait for both."""
    process = subprocess.Popen(
        [sys.executable, "scripts/leash.py", ",".join(map(str, pids)), "--", *COMMAND],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not psutil.Process(process.pid).children():
        assert time.monotonic() < deadline, "the leash started no command"
        time.sleep(0.05)
    # The handlers are installed right after the command starts.
    time.sleep(0.5)
    return process


@pytest.mark.parametrize("signals", [1, 2, 5])
def test_sigterm_to_the_group_ends_quietly_however_often_it_comes(signals):
    process = leash(os.getpid())
    command = psutil.Process(process.pid).children()[0]

    for _ in range(signals):
        os.killpg(process.pid, signal.SIGTERM)
        time.sleep(0.2)
    out, err = process.communicate(timeout=30)

    assert (process.returncode, out, err) == (143, "", "")
    assert not command.is_running()


def test_the_command_ends_when_a_leash_process_ends():
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    process = leash(os.getpid(), holder.pid)
    command = psutil.Process(process.pid).children()[0]

    holder.kill()
    holder.wait()
    out, err = process.communicate(timeout=30)

    assert (process.returncode, err) == (1, "")
    assert not command.is_running()


def test_ctrl_c_on_the_group_is_a_clean_exit_0():
    process = leash(os.getpid())

    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=30)

    # The command (runserver in make run) ends on its own SIGINT, here with
    # Python's KeyboardInterrupt; the leash passes that on as a clean stop.
    assert process.returncode == 0
    assert "leash.py" not in err
