"""`make run` (scripts/run.sh) with no DATABASE_URL, end to end.

It runs the real script with its embedded PostgreSQL in a scratch folder
(RUN_PG_DIR) and the development server on a free port, checks /healthz,
tries a second one on the same folder, stops the first with SIGTERM as a
supervisor would, and runs it again on the same folder.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from tests.embedded_pg.embedded import (
    embedded,
    is_running,
    postmaster_pid,
    scratch_folder,
    stop_servers_in,
)

pytestmark = pytest.mark.postgresql

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Run:
    """One `bash scripts/run.sh`, its output in a file."""

    def __init__(
        self, pg_dir: Path, log: Path, command=("bash", "scripts/run.sh"), **extra: str
    ):
        self.port = free_port()
        self.log = log
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DJANGO_", "DATABASE_", "TEST_", "RUN_"))
        }
        env.update(
            DJANGO_ENV_FILE="",
            DJANGO_DEBUG="true",
            RUN_PG_DIR=str(pg_dir),
            RUN_PG_PORT="0",
            RUN_PORT=str(self.port),
            **extra,
        )
        with log.open("w") as out:
            self.process = subprocess.Popen(
                list(command),
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text()

    def healthz(self, seconds: float = 120) -> tuple[int, dict]:
        """Wait for the server to answer /healthz; return its status and JSON."""
        deadline = time.monotonic() + seconds
        url = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"make run ended early:\n{self.output()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    return response.status, json.load(response)
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        pytest.fail(f"make run did not answer {url}:\n{self.output()}")

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def pg_dir():
    base = scratch_folder("todoproject-run-test-")
    yield base / "postgres"
    stop_servers_in(base)
    embedded("delete", base / "postgres", "--inside", base)
    base.rmdir()


@pytest.fixture
def runs(tmp_path):
    started = []

    def run(pg_dir: Path, command=("bash", "scripts/run.sh"), **extra: str) -> Run:
        started.append(
            Run(pg_dir, tmp_path / f"run-{len(started)}.log", command, **extra)
        )
        return started[-1]

    yield run
    for one in started:
        one.kill()


def app_url(pg_dir: Path) -> str:
    """Return the runtime role's URL, as `make db-url` prints it."""
    result = subprocess.run(
        ["make", "-s", "db-url"],
        cwd=ROOT,
        env={**os.environ, "RUN_PG_DIR": str(pg_dir)},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip()


def superuser_url(pg_dir: Path) -> str:
    """Return the superuser's URL to the application's database."""
    result = embedded(
        "url",
        pg_dir,
        "--role",
        "postgres",
        "--password-file",
        pg_dir / "superuser.password",
        "--database",
        "todoproject",
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_make_run_serves_on_embedded_postgresql_and_keeps_data_across_restarts(
    pg_dir, runs
):
    first = runs(pg_dir)
    status, health = first.healthz()

    assert status == 200, health
    assert health["database"]["vendor"] == "postgresql"
    assert health["database"]["embedded"] is True
    assert health["healthy"] is True
    with psycopg.connect(app_url(pg_dir), autocommit=True) as conn:
        role = conn.execute(
            "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        conn.execute(
            "INSERT INTO accounts_user (password, is_superuser, username, "
            "first_name, last_name, email, is_staff, is_active, date_joined) "
            "VALUES ('!', false, 'survivor', '', '', 'survivor@example.org', "
            "false, true, now())"
        )
    assert role == (False, False)
    # A newcomer's work in the sample account: a task added, one edited.
    with psycopg.connect(superuser_url(pg_dir), autocommit=True) as conn:
        sample = "(SELECT id FROM accounts_user WHERE username = 'sample-0001')"
        conn.execute(
            "INSERT INTO tasks_task (title, description, completed, created_at, "
            f"updated_at, owner_id) VALUES ('Added', '', false, now(), now(), {sample})"
        )
        edited = conn.execute(
            "UPDATE tasks_task SET title = 'Edited' WHERE id = (SELECT min(id) "
            f"FROM tasks_task WHERE owner_id = {sample}) RETURNING id"
        ).fetchone()[0]
        before = conn.execute("SELECT id, title FROM tasks_task ORDER BY id").fetchall()
    # The runtime role of make run owns nothing and cannot lift a policy.
    with (
        psycopg.connect(app_url(pg_dir), autocommit=True) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("ALTER TABLE tasks_task NO FORCE ROW LEVEL SECURITY")
    pid = postmaster_pid(pg_dir)

    meanwhile = runs(pg_dir)
    assert meanwhile.process.wait(timeout=60) == 1
    assert (
        f"error: cannot start: the embedded PostgreSQL in {pg_dir} is in use by "
        f"another make run or make test (pid {first.process.pid}); "
        in meanwhile.output()
    )
    assert first.healthz()[0] == 200

    assert first.terminate() != 0
    assert not is_running(pid)
    assert not (pg_dir / "data" / "postmaster.pid").exists()
    assert "database system is shut down" in (pg_dir / "server.log").read_text()
    assert "==> stopped the embedded PostgreSQL in" in first.output()

    second = runs(pg_dir)
    assert second.healthz()[0] == 200
    with psycopg.connect(app_url(pg_dir)) as conn:
        kept = conn.execute(
            "SELECT email FROM accounts_user WHERE username = 'survivor'"
        ).fetchall()
    assert kept == [("survivor@example.org",)]
    with psycopg.connect(superuser_url(pg_dir)) as conn:
        after = conn.execute("SELECT id, title FROM tasks_task ORDER BY id").fetchall()
    assert after == before
    assert (edited, "Edited") in after
    assert "Added" in [title for _, title in after]
    assert "creating a PostgreSQL cluster" not in second.output()
    assert second.terminate() != 0


@pytest.fixture
def replica_dir(pg_dir):
    path = pg_dir.parent / "replica"
    yield path
    stop_servers_in(path.parent)
    embedded("delete", path, "--inside", path.parent)


def test_make_run_with_replicas_reads_from_a_streaming_standby(
    pg_dir, replica_dir, runs
):
    run = runs(
        pg_dir,
        RUN_REPLICAS="1",
        RUN_PG_REPLICA_DIR=str(replica_dir),
        RUN_PG_REPLICA_PORT="0",
    )
    status, health = run.healthz()

    assert status == 200, health
    assert [
        (r["alias"], r["status"], r["reachable"], r["replaying"])
        for r in health["replicas"]
    ] == [("replica_1", "ok", True, True)]
    assert "hot standby of the embedded PostgreSQL" in run.output()
    pid = postmaster_pid(replica_dir)
    assert run.terminate() != 0
    assert not is_running(pid)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def ends_within(seconds: float, condition) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def run_sh_pid(make: Run) -> int:
    import psutil

    (child,) = psutil.Process(make.process.pid).children()
    return child.pid


def servers_on(port: int) -> list[int]:
    """Return the pids of runserver processes for `port`."""
    import psutil

    pids = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "runserver" in cmdline and f"127.0.0.1:{port}" in cmdline:
            pids.append(process.info["pid"])
    return pids


@pytest.mark.parametrize("killed", ["make", "run.sh", "both", "the group"])
def test_after_a_kill_9_nothing_keeps_a_port_or_a_server(pg_dir, runs, killed):
    first = runs(pg_dir, ("make", "-s", "run"))
    assert first.healthz()[0] == 200
    pid = postmaster_pid(pg_dir)
    script = run_sh_pid(first)

    if killed in ("make", "both"):
        os.kill(first.process.pid, signal.SIGKILL)
    if killed in ("run.sh", "both"):
        os.kill(script, signal.SIGKILL)
    if killed == "the group":
        # Everything the command started in its process group at once, the
        # leash included.
        os.killpg(first.process.pid, signal.SIGKILL)
    first.process.wait()

    assert ends_within(15, lambda: not listening(first.port)), first.output()
    assert ends_within(5, lambda: not servers_on(first.port))
    assert ends_within(15, lambda: not is_running(pid)), first.output()
    second = runs(pg_dir)
    assert second.healthz()[0] == 200


def test_ctrl_c_stops_cleanly_and_quietly(pg_dir, runs):
    first = runs(pg_dir, ("make", "-s", "run"))
    assert first.healthz()[0] == 200
    pid = postmaster_pid(pg_dir)
    script = run_sh_pid(first)

    # As a terminal does: SIGINT to the whole foreground process group.
    os.killpg(first.process.pid, signal.SIGINT)
    first.process.wait(timeout=60)

    output = first.output()
    assert "Error" not in output
    assert "Traceback" not in output
    assert "==> stopped the embedded PostgreSQL in" in output
    assert not is_running(pid)
    assert not listening(first.port)
    assert not is_running(script)
    assert not servers_on(first.port)
