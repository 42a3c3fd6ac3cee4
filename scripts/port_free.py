"""Exit 0 when HOST:PORT is free to serve on, else say why in one line.

    python scripts/port_free.py HOST PORT

Binds as runserver does (SO_REUSEADDR, so a TIME-WAIT is no obstacle).
scripts/run.sh runs it first, before anything else, with the system's
Python (standard library only).
"""

import socket
import sys

host = sys.argv[1].strip("[]")
if not sys.argv[2].isdigit() or not 0 < int(sys.argv[2]) < 65536:
    sys.exit(f"error: RUN_PORT must be a port number (1 to 65535), got {sys.argv[2]!r}")
port = int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
with socket.socket(family) as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError as exc:
        sys.exit(
            f"error: cannot serve on {sys.argv[1]}:{port}: {exc.strerror.lower()}; "
            "stop what uses it or choose another port, e.g. RUN_PORT=8001 make run"
        )
