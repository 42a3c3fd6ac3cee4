"""The embedded server's log is readable by its owner alone, primary and standby.

With ``debug_print_parse`` or ``log_statement`` on, the log holds every
statement with its values: other users' task titles. Root runs the server
as an account of its own (embedded_pg.account.server_account); a plain
account runs it itself. Both are checked, the second, under root, in a
child process that runs as that account.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest

from embedded_pg.account import server_account
from embedded_pg.folder import data_dir, log_file, private_log


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_running_servers_log_is_0600_and_its_servers_own(pg_cluster):
    log = log_file(pg_cluster.folder)

    assert mode(log) == 0o600
    account = server_account()
    if account is not None:
        assert (log.stat().st_uid, log.stat().st_gid) == account


def test_a_standbys_log_is_0600(pg_cluster):
    with pg_cluster.standby() as standby:
        assert mode(log_file(standby.folder)) == 0o600


def test_the_data_folder_keeps_postgresqls_own_modes(pg_cluster):
    data = data_dir(pg_cluster.folder)

    assert mode(data) in (0o700, 0o750)
    assert mode(data / "PG_VERSION") in (0o600, 0o640)


def make_log_as(account: tuple[int, int] | None, log: Path) -> int:
    """Create `log` under a umask of 022, as `account` (None: as this process).

    In a forked child, which drops to `account` first: the venv's python
    may be where that account cannot reach. Return the child's exit status.
    """
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        status = 1
        try:
            os.umask(0o022)
            if account is not None:
                os.setgroups([])
                os.setgid(account[1])
                os.setuid(account[0])
            private_log(log, None)
            status = 0
        finally:
            os._exit(status)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@pytest.mark.parametrize("who", ["this process", "an account that is not root"])
def test_a_log_is_created_0600_under_a_umask_of_022(who):
    # Under root, the server's account; otherwise this process is not root.
    account = None if who == "this process" else server_account()
    folder = Path(tempfile.mkdtemp(prefix="todoproject-log-"))
    try:
        if account is not None:
            os.chown(folder, *account)
        log = folder / "server.log"

        assert make_log_as(account, log) == 0
        assert mode(log) == 0o600
        expected_uid = os.geteuid() if account is None else account[0]
        assert log.stat().st_uid == expected_uid
    finally:
        for path in (folder / "server.log", folder):
            if path.is_dir():
                path.rmdir()
            elif path.exists():
                path.unlink()


def test_a_log_made_before_under_the_umask_is_narrowed(tmp_path):
    log = tmp_path / "server.log"
    log.write_text("from an older start\n")
    log.chmod(0o644)

    private_log(log, None)

    assert mode(log) == 0o600
    assert log.read_text() == "from an older start\n"
