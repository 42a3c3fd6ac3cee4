"""Real servers (uvicorn, gunicorn) of the project's asgi.py and wsgi.py."""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from urllib.parse import quote

import dj_database_url
from django.db import connection

from embedded_pg.folder import free_port
from tests.utils import ROOT


def runtime_database_url() -> str:
    """The runtime role's URL of the test database (committed rows only)."""
    runtime = dj_database_url.parse(os.environ["TEST_RUNTIME_DATABASE_URL"])
    settings = connection.settings_dict
    password = quote(runtime["PASSWORD"] or "", safe="")
    auth = f"{runtime['USER']}:{password}" if password else runtime["USER"]
    return (
        f"postgres://{auth}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT']}"
        f"/{settings['NAME']}"
    )


@contextmanager
def serving(argv: list[str], **env: str):
    """Run a server command on a free port; yield its base URL."""
    port = free_port()
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.api.server_settings",
        "DATABASE_URL": runtime_database_url(),
        "DJANGO_ENV_FILE": "",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONPATH": str(ROOT),
        **env,
    }
    environment.pop("TEST_RUNTIME_DATABASE_URL", None)
    command = [a.replace("{port}", str(port)) for a in argv]
    process = subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"{command[0]} did not start:\n{process.stdout.read()}"
                    ) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
