"""manage.py healthcheck: one line per check, exit codes an operator can act on."""

import json
import os
import re
import socket
import subprocess
import sys
import time
from io import StringIO
from pathlib import Path

import dj_database_url
import pytest
from django.core.management import call_command, load_command_class
from django.core.management.base import CommandError
from django.db import connection, connections

from embedded_pg import CLUSTER_NAME
from operations.health.report import MEANINGS

SECRET = "s3cret-never-shown"
ROOT = Path(__file__).resolve().parents[2]


def healthcheck(*args, **options):
    """Run the command; return (exit code, stdout, reason or stderr).

    A failure's reason is printed once: on its FAIL line, with a stderr
    line that only points there, or (with --json or --verbosity 0, where
    no person reads a FAIL line) as the stderr line itself.
    """
    out, err = StringIO(), StringIO()
    try:
        call_command("healthcheck", *args, stdout=out, stderr=err, **options)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), reason_once(out.getvalue(), exc)
    return 0, out.getvalue(), err.getvalue()


def reason_once(out, error):
    """Return the reason of `error`, checking that it was printed only once."""
    pointer = re.fullmatch(
        r"unhealthy, (?P<meaning>.+): see the (?P<check>.+) line above", str(error)
    )
    if pointer is None:
        # A usage error, --json or --verbosity 0: no FAIL line says it.
        assert not re.search(r"^.+  FAIL  ", out, re.MULTILINE)
        return str(error)
    assert pointer["meaning"] == MEANINGS[error.returncode]
    row = re.compile(rf"^{re.escape(pointer['check'])} +FAIL +\d+\.\d ms  (.+)$")
    (reason,) = [m[1] for line in out.splitlines() if (m := row.match(line))]
    assert reason not in str(error)
    return reason


def lines(out):
    """Return the output's lines with the timings blanked out."""
    return [re.sub(r" +\d+\.\d ms  ", "  N ms  ", line) for line in out.splitlines()]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def point_at(db, monkeypatch):
    """Point the default connection's settings elsewhere for this test.

    The health check opens its own connection from these settings; the
    test's own connection is already open and stays as it is.
    """

    def point(**changes):
        for key, value in changes.items():
            monkeypatch.setitem(connection.settings_dict, key, value)

    return point


@pytest.fixture
def sqlite_alias(monkeypatch, tmp_path, django_db_blocker):
    """A second database alias, "scratch": an empty SQLite file.

    The test needs no test database, only leave to connect; Django's test
    case would refuse an alias configured after it started.
    """
    configured = connections.configure_settings(
        {"default": {}, "scratch": {"ENGINE": "django.db.backends.sqlite3"}}
    )["scratch"]
    configured["NAME"] = str(tmp_path / "scratch.sqlite3")
    monkeypatch.setitem(connections.settings, "scratch", configured)
    with django_db_blocker.unblock():
        yield "scratch"
    connections["scratch"].close()
    del connections["scratch"]


def expected_healthy_lines():
    settings_dict = connection.settings_dict
    if connection.vendor == "sqlite":
        import sqlite3

        version = sqlite3.sqlite_version
        return [
            f"database: SQLite {version}, alias default, not embedded",
            f"connect     ok  N ms  connected to {settings_dict['NAME']}",
            "round trip  ok  N ms  SELECT 1",
            f"server      ok  N ms  SQLite {version}, file {settings_dict['NAME']}",
            "migrations  ok  N ms  all applied",
            "isolation   warn  N ms  SQLite: isolation is enforced by the "
            "application only (no row-level security, no cascade in the database)",
            "healthy (1 warning)",
        ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('server_version'), current_user, "
            "current_setting('cluster_name')"
        )
        version, role, cluster_name = cursor.fetchone()
    where = f"{settings_dict['HOST']}:{settings_dict['PORT'] or 5432}"
    # make test's own server is the embedded one, and says so.
    embedded = "embedded" if cluster_name == CLUSTER_NAME else "not embedded"
    return [
        f"database: PostgreSQL {version.split()[0]}, alias default, {embedded}",
        f"connect       ok  N ms  connected to {where}",
        "round trip    ok  N ms  SELECT 1",
        f"server        ok  N ms  PostgreSQL {version}, database "
        f"{settings_dict['NAME']}, role {role}",
        "ssl           ok  N ms  not in use (local connection)",
        "migrations    ok  N ms  all applied",
        "cascade       ok  N ms  tasks_task.owner_id is ON DELETE CASCADE",
        "row security  ok  N ms  enabled and forced on tasks_task",
        f"role          ok  N ms  {role} is subject to row-level security "
        "and owns no task table",
        "definitions   ok  N ms  policies, functions, triggers and grants as "
        "migrate installed",
        f"role config   ok  N ms  no session defaults but the project's on {role}",
        "scope proof   ok  N ms  the database accepts this process's scope proofs",
        "healthy",
    ]


@pytest.mark.django_db
def test_healthy_database_passes_every_check_one_line_each():
    code, out, err = healthcheck()

    assert code == 0
    assert lines(out) == expected_healthy_lines()
    assert err == ""


@pytest.mark.django_db
def test_check_lines_are_aligned():
    _, out, _ = healthcheck()

    checks = [
        re.match(r"(.+?  )(ok|warn|FAIL) +\d+\.\d( ms  )", line)
        for line in out.splitlines()[1:-1]
    ]
    assert len({match.start(2) for match in checks}) == 1
    assert len({match.start(3) for match in checks}) == 1


@pytest.mark.django_db
def test_json_is_one_document_on_stdout_and_names_the_database(settings):
    settings.EMBEDDED_DATABASE = True

    code, out, err = healthcheck("--json")

    report = json.loads(out)
    assert code == 0
    assert err == ""
    assert report["healthy"] is True
    assert report["exit_code"] == 0
    assert report["reason"] is None
    assert report["database"]["vendor"] == connection.vendor
    assert report["database"]["embedded"] is True
    assert re.fullmatch(r"\d+(\.\d+)+", report["database"]["server_version"])
    assert report["checks"][0]["name"] == "connect"
    assert {check["status"] for check in report["checks"]} <= {"ok", "warn"}


@pytest.mark.django_db
def test_verbosity_zero_prints_nothing_when_healthy():
    assert healthcheck(verbosity=0) == (0, "", "")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"database": "nope"},
            "unknown database alias 'nope' (configured: default)",
        ),
        *(
            (
                {"timeout": value},
                "--timeout must be a number of seconds more than 0 and at most "
                f"300, got {shown}",
            )
            for value, shown in [
                (0, "0"),
                (-1, "-1"),
                (float("inf"), "inf"),
                (float("-inf"), "-inf"),
                (float("nan"), "nan"),
                (300.5, "300.5"),
                (1e309, "inf"),
                ("soon", "'soon'"),
                ("inf", "'inf'"),
                (True, "True"),
            ]
        ),
        *(
            (
                {"wait": value},
                "--wait must be a number of seconds at least 0 and at most 300, "
                f"got {shown}",
            )
            for value, shown in [
                (-1, "-1"),
                (float("inf"), "inf"),
                (float("nan"), "nan"),
                (301, "301"),
                ("later", "'later'"),
            ]
        ),
    ],
)
def test_usage_errors_exit_2(options, message):
    code, out, error = healthcheck(**options)

    assert (code, error) == (2, message)
    assert out == ""


@pytest.mark.django_db
@pytest.mark.parametrize("options", [{"timeout": 300}, {"wait": 300}, {"wait": 0}])
def test_largest_timeout_and_wait_are_accepted(options):
    code, out, _ = healthcheck(**options)

    assert code == 0
    assert lines(out)[-1].startswith("healthy")


@pytest.mark.parametrize("value", ["inf", "nan", "0", "-5", "301", "1e400"])
def test_unusable_timeout_on_the_command_line_is_one_line_exit_2(value):
    result = manage_py_healthcheck("--timeout", value)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "CommandError: --timeout must be a number of seconds more than 0 and at "
        f"most 300, got {float(value)!r}"
    ]


def manage_py_healthcheck(*args, **env_changes):
    """Run manage.py healthcheck in a child process, on the default settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "DATABASE_URL"))
    }
    env.update(DJANGO_ENV_FILE=os.devnull, DJANGO_SECRET_KEY="x" * 50)
    env.update(env_changes)
    return subprocess.run(
        [sys.executable, "manage.py", "healthcheck", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_malformed_option_on_the_command_line_exits_2():
    result = manage_py_healthcheck("--timeout", "soon")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[-1] == (
        "manage.py healthcheck: error: argument --timeout: invalid float value: 'soon'"
    )


def test_help_documents_the_exit_codes():
    command = load_command_class("operations", "healthcheck")
    parser = command.create_parser("manage.py", "healthcheck")

    text = " ".join(parser.format_help().split())
    for documented in (
        "0 healthy",
        "1 cannot connect",
        "2 usage error",
        "3 reachable but migrations are pending",
        "4 reachable and migrated but the integrity posture is broken",
    ):
        assert documented in text


def test_sqlite_database_warns_that_isolation_is_the_applications_job(sqlite_alias):
    code, out, message = healthcheck("--database", sqlite_alias)

    # An empty file: reachable, nothing migrated.
    assert code == 3
    assert re.fullmatch(
        r"\d+ migrations are not applied \(.+, \.\.\.\); run manage.py migrate",
        message,
    )
    assert out.splitlines()[0].startswith("database: SQLite ")
    assert lines(out)[-1] == (
        "isolation   warn  N ms  SQLite: isolation is enforced by the application "
        "only (no row-level security, no cascade in the database)"
    )


# The fault matrix: each fault gives its exit code and one line naming it,
# and never the password.

pg = pytest.mark.postgresql


@pg
def test_nothing_listening_is_exit_1_connection_refused(point_at):
    port = free_port()
    point_at(HOST="127.0.0.1", PORT=port, PASSWORD=SECRET)

    code, out, message = healthcheck()

    assert (code, message) == (1, f"connection refused at 127.0.0.1:{port}")
    assert lines(out)[1:] == [
        f"connect  FAIL  N ms  connection refused at 127.0.0.1:{port}"
    ]
    assert SECRET not in out + message


@pg
def test_a_failure_is_printed_once_on_its_fail_line():
    port = free_port()

    result = manage_py_healthcheck(
        DATABASE_URL=f"postgres://app:{SECRET}@127.0.0.1:{port}/todoproject"
    )

    reason = f"connection refused at 127.0.0.1:{port}"
    assert result.returncode == 1
    assert lines(result.stdout)[1:] == [f"connect  FAIL  N ms  {reason}"]
    assert result.stderr.splitlines() == [
        "CommandError: unhealthy, cannot reach the database: see the connect line above"
    ]
    assert (result.stdout + result.stderr).count(reason) == 1
    assert SECRET not in result.stdout + result.stderr


@pg
@pytest.mark.parametrize("options", [{"verbosity": 0}, {"json": True}])
def test_without_fail_lines_the_one_stderr_line_is_the_reason(point_at, options):
    port = free_port()
    point_at(HOST="127.0.0.1", PORT=port)

    with pytest.raises(CommandError) as error:
        call_command("healthcheck", stdout=StringIO(), **options)

    assert error.value.returncode == 1
    assert str(error.value) == f"connection refused at 127.0.0.1:{port}"


@pg
def test_unresolvable_host_is_exit_1_unknown_host(point_at):
    point_at(HOST="db.invalid", PASSWORD=SECRET)

    code, out, message = healthcheck("--json")

    assert (code, message) == (1, "unknown host db.invalid (name resolution failed)")
    report = json.loads(out)
    assert report["exit_code"] == 1
    assert report["reason"] == message
    assert report["database"] == {
        "vendor": "postgresql",
        "server_version": None,
        "embedded": False,
        "alias": "default",
    }
    assert SECRET not in out + message


@pg
def test_unknown_database_is_exit_1_naming_it(point_at):
    host, port = connection.settings_dict["HOST"], connection.settings_dict["PORT"]
    point_at(NAME="todoproject_no_such_database")

    code, _, message = healthcheck()

    assert code == 1
    assert message == (
        'database "todoproject_no_such_database" does not exist at '
        f"{host}:{port or 5432}"
    )
    assert connection.settings_dict["PASSWORD"] not in message


@pg
def test_wrong_password_is_exit_1_authentication_failed(point_at, pg_cluster):
    point_at(
        HOST=pg_cluster.host,
        PORT=pg_cluster.port,
        USER=pg_cluster.user,
        PASSWORD=SECRET,
        NAME="postgres",
    )

    code, out, message = healthcheck()

    assert code == 1
    assert message == (
        f'password authentication failed for user "{pg_cluster.user}" '
        f"at {pg_cluster.host}:{pg_cluster.port}"
    )
    assert SECRET not in out + message


@pg
def test_right_password_on_the_throwaway_cluster_connects(point_at, pg_cluster):
    point_at(
        HOST=pg_cluster.host,
        PORT=pg_cluster.port,
        USER=pg_cluster.user,
        PASSWORD=pg_cluster.password,
        NAME="postgres",
    )

    _, out, _ = healthcheck()

    assert lines(out)[1] == (
        f"connect       ok  N ms  connected to {pg_cluster.host}:{pg_cluster.port}"
    )


@pg
def test_server_that_never_answers_is_exit_1_within_the_timeout(point_at):
    # The kernel accepts the connection into the backlog; nobody answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        point_at(HOST="127.0.0.1", PORT=port)

        started = time.monotonic()
        code, _, message = healthcheck("--timeout", "1")
        elapsed = time.monotonic() - started

    assert (code, message) == (1, f"no answer from 127.0.0.1:{port} within 1 s")
    assert elapsed < 2


@pg
def test_wait_retries_until_the_time_is_up(point_at):
    port = free_port()
    point_at(HOST="127.0.0.1", PORT=port)

    started = time.monotonic()
    code, _, message = healthcheck("--wait", "0.5")
    elapsed = time.monotonic() - started

    assert (code, message) == (1, f"connection refused at 127.0.0.1:{port}")
    assert 0.5 <= elapsed < 1.5


@pg
def test_wait_says_why_it_waits_on_stderr(point_at):
    port = free_port()
    point_at(HOST="127.0.0.1", PORT=port)
    err = StringIO()

    with pytest.raises(CommandError):
        call_command("healthcheck", "--wait", "0.3", stdout=StringIO(), stderr=err)

    retries = err.getvalue().splitlines()
    assert retries[0] == (
        f"waiting for the database: connection refused at 127.0.0.1:{port}; "
        "trying again in 0.25 s"
    )
    assert len(retries) >= 2


@pytest.fixture
def empty_database(db, superuser_cursor):
    """A database with nothing in it (the runtime role may create none)."""
    name = f"{connection.settings_dict['NAME']}_empty"
    superuser_cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
    superuser_cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield name
    finally:
        superuser_cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pg
def test_database_without_migrations_is_exit_3(point_at, empty_database):
    point_at(NAME=empty_database)

    code, out, message = healthcheck()

    assert code == 3
    assert re.fullmatch(
        r"\d+ migrations are not applied \(contenttypes.0001_initial, .+, \.\.\.\); "
        r"run manage.py migrate",
        message,
    )
    # What the posture checks find there does not hide the first cause.
    assert "cascade       FAIL  N ms  tasks_task does not exist" in lines(out)
    assert "row security  FAIL  N ms  tasks_task does not exist" in lines(out)


@pytest.fixture
def alter_tasks_table(superuser_cursor):
    """Run ALTER TABLE on tasks_task as a superuser; undo it afterwards."""
    undo = []

    def alter(change, restore):
        superuser_cursor.execute("SET lock_timeout = '5s'")
        superuser_cursor.execute(f"ALTER TABLE tasks_task {change}")
        undo.append(restore)

    yield alter
    for restore in reversed(undo):
        superuser_cursor.execute(f"ALTER TABLE tasks_task {restore}")


@pg
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "restore", "reason"),
    [
        (
            "NO FORCE ROW LEVEL SECURITY",
            "FORCE ROW LEVEL SECURITY",
            "enabled but not forced on tasks_task: its owner skips the policies",
        ),
        (
            "DISABLE ROW LEVEL SECURITY",
            "ENABLE ROW LEVEL SECURITY",
            "not enabled on tasks_task: every role sees every task",
        ),
    ],
)
def test_row_security_not_enforced_is_exit_4(
    alter_tasks_table, change, restore, reason
):
    alter_tasks_table(change, restore)

    code, out, message = healthcheck()

    assert (code, message) == (4, reason)
    assert f"row security  FAIL  N ms  {reason}" in lines(out)


@pytest.fixture
def replace_owner_foreign_key(superuser_cursor):
    """Recreate the tasks owner foreign key as given; put it back afterwards."""
    superuser_cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'tasks_task'::regclass AND contype = 'f'"
    )
    ((name, original),) = superuser_cursor.fetchall()
    assert "ON DELETE CASCADE" in original

    def replace(*statements):
        superuser_cursor.execute("SET lock_timeout = '5s'")
        superuser_cursor.execute(f'ALTER TABLE tasks_task DROP CONSTRAINT "{name}"')
        for statement in statements:
            superuser_cursor.execute(statement.format(name=name))

    yield replace
    superuser_cursor.execute("SET lock_timeout = '5s'")
    superuser_cursor.execute(
        f'ALTER TABLE tasks_task DROP CONSTRAINT IF EXISTS "{name}"'
    )
    superuser_cursor.execute(
        f'ALTER TABLE tasks_task ADD CONSTRAINT "{name}" {original}'
    )
    superuser_cursor.execute("DROP TABLE IF EXISTS decoy_user")


@pg
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("statements", "reason"),
    [
        (
            [
                'ALTER TABLE tasks_task ADD CONSTRAINT "{name}" FOREIGN KEY '
                "(owner_id) REFERENCES accounts_user (id) "
                "DEFERRABLE INITIALLY DEFERRED"
            ],
            "tasks_task.owner_id is not ON DELETE CASCADE in the database",
        ),
        (
            [
                "CREATE TABLE decoy_user (id bigint PRIMARY KEY)",
                'ALTER TABLE tasks_task ADD CONSTRAINT "{name}" FOREIGN KEY '
                "(owner_id) REFERENCES decoy_user (id) ON DELETE CASCADE NOT VALID",
            ],
            "tasks_task.owner_id references decoy_user, not accounts_user.id",
        ),
        (
            [
                'ALTER TABLE tasks_task ADD CONSTRAINT "{name}" FOREIGN KEY '
                "(owner_id) REFERENCES accounts_user (id) ON DELETE CASCADE",
                "ALTER TABLE tasks_task ADD CONSTRAINT tasks_task_owner_no_action "
                "FOREIGN KEY (owner_id) REFERENCES accounts_user (id)",
            ],
            "tasks_task.owner_id is not ON DELETE CASCADE in the database",
        ),
    ],
    ids=["no-cascade", "cascade-to-another-table", "second-key-without-cascade"],
)
def test_owner_foreign_key_that_does_not_cascade_to_users_is_exit_4(
    replace_owner_foreign_key, superuser_cursor, statements, reason
):
    replace_owner_foreign_key(*statements)

    try:
        code, out, message = healthcheck()
    finally:
        superuser_cursor.execute(
            "ALTER TABLE tasks_task DROP CONSTRAINT IF EXISTS "
            "tasks_task_owner_no_action"
        )

    assert (code, message) == (4, reason)
    assert f"cascade       FAIL  N ms  {reason}" in lines(out)


@pytest.fixture
def as_superuser(point_at):
    url = os.environ.get("TEST_SUPERUSER_DATABASE_URL")
    if not url:
        pytest.fail(
            "TEST_SUPERUSER_DATABASE_URL is not set; run the suite by make test"
        )
    superuser = dj_database_url.parse(url)
    point_at(**{key: superuser[key] for key in ("USER", "PASSWORD", "HOST", "PORT")})
    return superuser["USER"]


@pg
def test_superuser_role_is_exit_4(as_superuser):
    code, _, message = healthcheck()

    assert code == 4
    assert message.startswith(f"{as_superuser} is a superuser")
    assert message.endswith(": it can skip or lift row-level security")


@pg
def test_owner_of_the_task_table_is_exit_4(point_at):
    owner = dj_database_url.parse(os.environ["DATABASE_URL"])
    point_at(**{key: owner[key] for key in ("USER", "PASSWORD")})

    code, _, message = healthcheck()

    assert code == 4
    assert message == (
        f"{owner['USER']} is the owner of tasks_task: "
        "it can skip or lift row-level security"
    )


@pg
def test_member_of_the_owner_is_exit_4(point_at, superuser_cursor):
    owner = dj_database_url.parse(os.environ["DATABASE_URL"])["USER"]
    superuser_cursor.execute(
        "DROP ROLE IF EXISTS todoproject_test_member; "
        "CREATE ROLE todoproject_test_member LOGIN PASSWORD 'member-pw' "
        f"IN ROLE {owner}"
    )
    try:
        point_at(USER="todoproject_test_member", PASSWORD="member-pw")

        code, _, message = healthcheck()
    finally:
        superuser_cursor.execute("DROP ROLE todoproject_test_member")

    assert code == 4
    assert message.startswith(
        f"todoproject_test_member is a member of {owner}, the owner of tasks_task"
    )


@pg
def test_superuser_role_allowed_on_purpose_is_a_warning(as_superuser):
    code, out, _ = healthcheck("--allow-privileged-role")

    assert code == 0
    assert re.search(
        rf"^role +warn +N ms  {as_superuser} is a superuser.*\(allowed\)$",
        "\n".join(lines(out)),
        re.MULTILINE,
    )
    assert lines(out)[-1] == "healthy (1 warning)"
