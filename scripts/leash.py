"""Run a command for as long as some processes live, then end it.

    python scripts/leash.py PID[,PID...] -- COMMAND [ARG...]

scripts/run.sh serves through it, leashed to itself and to its parent
(`make`): when any of them ends, however it ends (a `kill -9` too), the
command and every process it started (runserver's autoreloader and its
server) get SIGTERM, then SIGKILL after a grace period, so that nothing
keeps the port. So do they on a SIGTERM or SIGHUP to this process. The
command stays in the caller's process group: a Ctrl-C on the terminal, or
a signal to the whole group, reaches it directly, and a SIGINT here is left
to it. The exit status is the command's (0 after a Ctrl-C it ended
quietly on), or 1 when a leash process ended first.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from embedded_pg.watcher import alive  # noqa: E402

POLL_SECONDS = 0.2
GRACE_SECONDS = 5.0


def end_tree(child: subprocess.Popen) -> None:
    """SIGTERM `child` and its descendants; SIGKILL what is left after the grace."""
    try:
        top = psutil.Process(child.pid)
        # Listed first: a child whose parent ends is no longer found below it.
        processes = [top, *top.children(recursive=True)]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, left = psutil.wait_procs(processes, timeout=GRACE_SECONDS)
    for process in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(left, timeout=5)
    child.poll()


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.exit("usage: leash.py PID[,PID...] -- COMMAND [ARG...]")
    pids = [int(pid) for pid in argv[0].split(",") if pid]
    child = subprocess.Popen(argv[2:])
    stopped = []

    def stop(signum, frame):
        # Only noted, never raised: a signal to the whole process group
        # comes here and again through run.sh's cleanup, and the second
        # must not cut the first's end_tree short with a traceback.
        stopped.append(signum)

    # Set after the start, so that the command keeps the default handlers.
    signal.signal(signal.SIGINT, lambda signum, frame: None)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    while child.poll() is None and not stopped:
        if not all(alive(pid) for pid in pids):
            end_tree(child)
            return 1
        time.sleep(POLL_SECONDS)
    if stopped:
        end_tree(child)
        return 128 + signal.SIGTERM
    # runserver ends a Ctrl-C quietly; one that SIGINT killed stopped too.
    return 0 if child.returncode in (-signal.SIGINT, 130) else child.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
