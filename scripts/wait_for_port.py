"""Exit 0 once HOST:PORT accepts connections; 1 when PID ends first.

Interrupted (Ctrl-C), exit 130 without a traceback.

    python scripts/wait_for_port.py HOST PORT PID

scripts/run.sh says "serving" only once runserver really listens (its
system checks and the autoreloader take a second or more), and says
nothing when the server ended instead.
"""

import os
import socket
import sys
import time

host, port, pid = sys.argv[1].strip("[]"), int(sys.argv[2]), int(sys.argv[3])
family = socket.AF_INET6 if ":" in host else socket.AF_INET


def alive(pid: int) -> bool:
    """Return whether `pid` runs (a zombie, an ended child not yet reaped, too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


try:
    while alive(pid):
        with socket.socket(family) as probe:
            probe.settimeout(1)
            if probe.connect_ex((host, port)) == 0:
                sys.exit(0)
        time.sleep(0.1)
except KeyboardInterrupt:
    # Ctrl-C reaches the whole group, this probe too, whenever it comes:
    # run.sh stops everything; a traceback here would only be noise.
    sys.exit(130)
sys.exit(1)
