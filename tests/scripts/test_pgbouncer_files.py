"""PgBouncer's runtime files: private, and reachable from a closed checkout.

As root, PgBouncer drops to postgres, which cannot pass a checkout in a
folder closed to others (/root/project, mode 700): it used to stop at
"Cannot open logfile". Its files now live where it can reach them, in a
folder only it may enter, the log readable by its owner alone.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from embedded_pg.folder import free_port
from tests.pgbouncer import SCRIPT, require_pgbouncer

pytestmark = pytest.mark.postgresql


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def closed_checkout():
    """A folder that no one but its owner can pass, like /root/project."""
    path = Path(tempfile.mkdtemp(prefix="todoproject-closed-"))
    path.chmod(0o700)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_pgbouncer_starts_from_a_closed_checkout_with_private_files(
    pg_cluster, closed_checkout
):
    require_pgbouncer()
    run_dir = closed_checkout / "var" / "pgbouncer"
    env = {**os.environ, "PGBOUNCER_RUN_DIR": str(run_dir)}
    port = free_port()
    start = [*SCRIPT, "start", pg_cluster.host, str(pg_cluster.port), str(port)]
    try:
        result = subprocess.run(
            [*start, f"{pg_cluster.user}={pg_cluster.password}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr

        files = (run_dir / "files").resolve() if os.geteuid() == 0 else run_dir
        log = files / "pgbouncer.log"
        assert mode(files) == 0o700
        assert mode(log) == 0o600
        assert mode(files / "userlist.txt") == 0o600
        assert mode(run_dir) == 0o700
        if os.geteuid() == 0:
            import pwd

            postgres = pwd.getpwnam("postgres").pw_uid
            assert closed_checkout not in files.parents
            assert files.stat().st_uid == log.stat().st_uid == postgres
        assert (files / "pgbouncer.pid").exists()
    finally:
        subprocess.run([*SCRIPT, "stop"], env=env, check=False, timeout=60)
    assert not (run_dir / "files").exists()
    if os.geteuid() == 0:
        assert not files.exists()
