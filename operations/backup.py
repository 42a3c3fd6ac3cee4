"""
Dump and restore a PostgreSQL database despite forced row-level security.

A plain ``pg_dump`` as the application's role fails on ``tasks_task``
("query would be affected by row-level security policy"): the role owns
the table but FORCE puts it under the policies, and pg_dump refuses to dump
a filtered table. The dump therefore runs with ``--enable-row-security`` and
the system scope switched on for its own session (``PGOPTIONS``), so the
policies let every row through. It is a direct, short-lived connection of
its own, never a pooled one (Neon: use the direct endpoint).

``pg_restore`` into an empty database recreates the data before the
policies (pg_dump puts ``ENABLE ROW LEVEL SECURITY`` and the policies in the
post-data section), so the rows load as they were and the policies,
constraints and the ``ON DELETE CASCADE`` come back intact. What
``--no-privileges`` leaves out (the runtime role's grants, the revoked ``EXECUTE``
on the trigger functions) is then made again, as ``migrate`` makes it.

A restore runs as the owner that migrates, never a superuser: everything it
creates is owned by its role, and ``SECURITY DEFINER`` functions owned by a
superuser would run as one.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.db import DatabaseError, connections

from operations import integrity, pg_programs
from ownership.policies import SYSTEM_SETTING
from ownership.proofs import install_scope_keys
from ownership.roles import grant_runtime_role


class BackupError(Exception):
    """A dump or restore that could not run; the message is one line."""


@dataclass(frozen=True)
class Tool:
    path: str
    major: int


def server_major(alias: str) -> int:
    connection = connections[alias]
    connection.ensure_connection()
    return connection.pg_version // 10000


def find_tool(name: str, server_major: int) -> Tool:
    """Return the `name` (pg_dump, pg_restore) closest to `server_major`.

    The folders searched ($PG_BIN_DIR, the embedded wheel, Debian's, the
    PATH) and the choice (the same major version, then the nearest newer
    one) are operations.pg_programs'.
    """
    found = pg_programs.programs(name)
    chosen = pg_programs.closest(found, server_major)
    if chosen is None:
        have = ", ".join(f"{p.path} ({p.major})" for p in found) or "none"
        raise BackupError(
            f"no {name} of PostgreSQL {server_major} or newer found (have: {have}); "
            "install the client or set PG_BIN_DIR"
        )
    return Tool(str(chosen.path), chosen.major)


def libpq_env(alias: str, *, system_scope: bool) -> tuple[dict[str, str], list[str]]:
    """Return (environment, connection arguments) for a libpq tool.

    The password goes through PGPASSWORD, never the command line.
    """
    settings_dict = connections[alias].settings_dict
    options = settings_dict.get("OPTIONS", {})
    # Only this database's settings: an inherited PGHOST or PGPASSWORD would
    # point pg_dump at another server than the one Django checked.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    for key, value in (
        ("PGHOST", settings_dict.get("HOST")),
        ("PGPORT", settings_dict.get("PORT")),
        ("PGUSER", settings_dict.get("USER")),
        ("PGPASSWORD", settings_dict.get("PASSWORD")),
        ("PGSSLMODE", options.get("sslmode")),
        ("PGCONNECT_TIMEOUT", options.get("connect_timeout")),
    ):
        if value:
            env[key] = str(value)
    if system_scope:
        env["PGOPTIONS"] = f"-c {SYSTEM_SETTING}=on"
    return env, ["--dbname", settings_dict["NAME"]]


def run(command: list[str], env: dict[str, str], *, stdout=None) -> None:
    """Run `command`; a failure becomes a one-line ``BackupError``.

    `stdout` is a file to write the tool's output to; by default it is
    captured and dropped.
    """
    result = subprocess.run(
        command,
        env=env,
        stdout=subprocess.PIPE if stdout is None else stdout,
        stderr=subprocess.PIPE,
        text=True,
    )
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[0] if lines else f"exit status {result.returncode}"
        raise BackupError(f"{Path(command[0]).name} failed: {reason}")


def dump(alias: str, output: Path) -> Path:
    """Write a custom-format dump of every row of database `alias` to `output`.

    The dump holds password hashes and every user's tasks, so it is readable
    by its owner alone (0600) from the moment it exists. It is written to a
    ``.partial`` file beside `output`, which only a complete dump leaves,
    renamed; on any failure the partial file is removed.
    """
    if connections[alias].vendor != "postgresql":
        raise BackupError("backup needs PostgreSQL; for SQLite copy the file")
    if output.is_dir():
        raise BackupError(f"cannot write the dump to {output}: it is a directory")
    if not output.parent.is_dir():
        raise BackupError(
            f"cannot write the dump to {output}: no folder {output.parent}"
        )
    tool = find_tool("pg_dump", server_major(alias))
    env, target = libpq_env(alias, system_scope=True)
    try:
        # mkstemp creates the file 0600 whatever the umask: nobody else can
        # open it, even while pg_dump is still writing.
        fd, name = tempfile.mkstemp(
            dir=output.parent, prefix=f"{output.name}.", suffix=".partial"
        )
    except OSError as exc:
        raise BackupError(
            f"cannot write the dump to {output}: {exc.strerror or exc}"
        ) from None
    partial = Path(name)
    try:
        with os.fdopen(fd, "wb") as file:
            # pg_dump writes to the file opened here rather than creating
            # one of its own (which would follow the umask).
            run(
                [
                    tool.path,
                    "--format=custom",
                    "--enable-row-security",
                    "--no-owner",
                    "--no-privileges",
                    *target,
                ],
                env,
                stdout=file,
            )
        try:
            partial.replace(output)
        except OSError as exc:
            raise BackupError(
                f"cannot write the dump to {output}: {exc.strerror or exc}"
            ) from None
    except BaseException:
        # Interrupted or failed: no stray partial dump, whatever the cause.
        partial.unlink(missing_ok=True)
        raise
    return output


def restore(alias: str, dump_file: Path) -> bool:
    """Load `dump_file` into the empty database `alias` as its connection role.

    Then grant the runtime role what it needs and install the policies and
    functions again (operations.integrity), as ``migrate`` does. Return
    False when the dump is of an older schema: ``migrate`` then does both.
    """
    if connections[alias].vendor != "postgresql":
        raise BackupError("restore needs PostgreSQL")
    if not dump_file.exists():
        raise BackupError(f"no such dump file: {dump_file}")
    if dump_file.is_dir():
        raise BackupError(f"cannot read dump file {dump_file}: it is a directory")
    try:
        with dump_file.open("rb"):
            pass
    except OSError as exc:
        raise BackupError(
            f"cannot read dump file {dump_file}: {exc.strerror or exc}"
        ) from None
    with connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user"
        )
        role, superuser = cursor.fetchone()
        if superuser:
            raise BackupError(
                f"{role} is a superuser: restore as the owner that migrates, "
                "or the SECURITY DEFINER functions would run as a superuser"
            )
        cursor.execute(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'"
        )
        (tables,) = cursor.fetchone()
    if tables:
        raise BackupError(
            f"database {connections[alias].settings_dict['NAME']!r} is not empty "
            f"({tables} tables); restore only into an empty database"
        )
    tool = find_tool("pg_restore", server_major(alias))
    env, target = libpq_env(alias, system_scope=True)
    run(
        [
            tool.path,
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            *target,
            str(dump_file),
        ],
        env,
    )
    try:
        grant_runtime_role(alias, verbosity=0)
        if not integrity.fully_migrated(alias):
            return False
        integrity.put_back(alias, force=True)
        # A dump holds the scope keys of the settings it was made with.
        install_scope_keys(alias, verbosity=0)
    except DatabaseError as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BackupError(
            f"restored, but the runtime role's grants could not be made "
            f"({reason}); run manage.py migrate"
        ) from None
    return True
