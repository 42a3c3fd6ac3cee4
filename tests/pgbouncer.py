"""A PgBouncer in transaction mode in front of a test's own cluster.

``pgbouncer_in_front()`` starts one with ``scripts/pgbouncer.sh`` (the
configuration of ``make test``'s PgBouncer run, ``ops/pgbouncer/pgbouncer.ini``)
in a folder of its own on a free port, and stops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from embedded_pg.folder import free_port
from embedded_pg.testing import Cluster
from tests.utils import ROOT

SCRIPT = ["bash", str(ROOT / "scripts" / "pgbouncer.sh")]


def require_pgbouncer() -> None:
    """Skip the test when PgBouncer is missing, or fail it in CI.

    ``scripts/pgbouncer.sh check`` decides, as for ``make test``: as root on
    Debian it installs the package; with CI=true a missing one is an error.
    """
    result = subprocess.run(
        [*SCRIPT, "check"], capture_output=True, text=True, timeout=300
    )
    if result.returncode == 3:
        pytest.skip(result.stdout.strip())
    if result.returncode != 0:
        pytest.fail(result.stderr.strip() or "scripts/pgbouncer.sh check failed")


@contextmanager
def pgbouncer_in_front(cluster: Cluster, roles: dict[str, str]) -> Iterator[int]:
    """Yield the port of a PgBouncer in front of `cluster`; stop it afterwards.

    `roles` maps each role that may connect to the password PgBouncer logs
    in to the server with. The port is an ephemeral one, never one of the
    6432 and up that ``make test``'s own PgBouncer takes, and the runtime
    folder a temporary one, so that neither clashes with that run.
    """
    require_pgbouncer()
    folder = tempfile.mkdtemp(prefix="todoproject-pgbouncer-")
    env = {**os.environ, "PGBOUNCER_RUN_DIR": folder}
    port = free_port()
    try:
        subprocess.run(
            [
                *SCRIPT,
                "start",
                cluster.host,
                str(cluster.port),
                str(port),
                *(f"{role}={password}" for role, password in roles.items()),
            ],
            env=env,
            check=True,
            timeout=60,
        )
        yield port
    finally:
        subprocess.run([*SCRIPT, "stop"], env=env, check=False, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
