"""Run a command for as long as some processes live, then end it.

    python scripts/leash.py PID[,PID...] -- COMMAND [ARG...]

scripts/run.sh serves through it, leashed to itself and to its parent
(`make`): when any of them ends, however it ends (a `kill -9` too), the
command and every process it started get SIGTERM, then SIGKILL after a
grace period, so that nothing keeps the port. The command runs in a process
group of its own, which is how its children are found; SIGINT, SIGTERM and
SIGHUP sent to this process are passed on to that group. The exit status is
the command's (0 after a SIGINT it handled quietly), or 1 when a leash
process ended first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from embedded_pg.watcher import alive  # noqa: E402

POLL_SECONDS = 0.2
GRACE_SECONDS = 5.0


def end_group(group: int, child: subprocess.Popen) -> None:
    """SIGTERM the group, then SIGKILL whatever is left after the grace period."""
    for sig, seconds in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            child.poll()
            try:
                os.killpg(group, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: leash.py PID[,PID...] -- COMMAND [ARG...]")
    pids = [int(pid) for pid in argv[0].split(",") if pid]
    child = subprocess.Popen(argv[2:], process_group=0)
    group = child.pid

    def forward(signum, frame):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signum)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    try:
        while child.poll() is None:
            if not all(alive(pid) for pid in pids):
                end_group(group, child)
                return 1
            time.sleep(POLL_SECONDS)
        # The command is done; a child it left behind is not kept.
        end_group(group, child)
    finally:
        if child.poll() is None:
            end_group(group, child)
    status = child.returncode
    # runserver ends a Ctrl-C (SIGINT, passed on) quietly; one killed by it
    # is a clean stop too.
    return 0 if status in (-signal.SIGINT, 130) else status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
