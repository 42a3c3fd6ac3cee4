"""Make the bench database, start Django on it and load it.

The bench's own role owns the database and serves it (the benchmark
measures speed, not the roles: the test suite proves those); the server's
superuser, whom row-level security skips, is the ``plain`` side
(bench/settings.py) and loads the raw baselines.
"""

from __future__ import annotations

import os
import random
import re
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

from ownership.policies import (
    PROOF_SETTING,
    SCOPE_STAMP,
    STAFF_SETTING,
    SYSTEM_SETTING,
    TRANSACTION_SETTING,
    USER_SETTING,
)

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "results" / "bench"
DATABASE = "todoproject_bench"
# The benchmark's own role: its password is reset on every run.
ROLE = "todoproject_bench"

# What ownership.scope sends for a user, from the same definitions: the raw
# sides give the same guarantee as the services, the signed proof included
# (set_user_params).
SET_USER = (
    f"SELECT set_config('{USER_SETTING}', %s, true), "
    f"set_config('{SYSTEM_SETTING}', '', true), "
    f"set_config('{STAFF_SETTING}', '', true), "
    f"set_config('{PROOF_SETTING}', %s, true), "
    f"set_config('{TRANSACTION_SETTING}', {SCOPE_STAMP}, true)"
)


def set_user_params(user_id: int, backend_pid: int) -> list[str]:
    """Return SET_USER's parameters: `user_id` and its proof for that backend."""
    from ownership.proofs import proof

    return [str(user_id), proof(user_id, "", backend_pid)]


# What the session-level peers set and reset around a statement. A
# session-level acting user counts for none of the policies (that is what
# todoproject.transaction is for), so they open the owner's system scope:
# the same round trips and one InitPlan per statement, like the user's.
SESSION_ON = f"SELECT set_config('{SYSTEM_SETTING}', 'on', false)"
SESSION_OFF = f"RESET {SYSTEM_SETTING}"


def log(message: str) -> None:
    print(message, flush=True)


def with_database(url: str, name: str) -> str:
    """Return `url` with its database replaced by `name`."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def with_server(url: str, server_url: str) -> str:
    """Return `url` with the host and port of `server_url` (a proxy's, say)."""
    parts, server = urlsplit(url), urlsplit(server_url)
    credentials, _, _ = parts.netloc.rpartition("@")
    host = server.netloc.rpartition("@")[2]
    netloc = f"{credentials}@{host}" if credentials else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, ""))


def prepare_database(admin_url: str) -> str:
    """Create a fresh bench database owned by the bench's role; return its URL.

    The role is made by scripts/pg_role.py, run as the command it is, which
    also drops a database left by an earlier run.
    """
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "pg_role.py"),
            admin_url,
            "--role",
            ROLE,
            "--owner",
            "--database",
            DATABASE,
            "--drop-database",
            DATABASE,
        ],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DATABASE), sql.Identifier(ROLE)
            )
        )
    return result.stdout.strip()


def setup_django(app_url: str, plain_url: str) -> None:
    """Start Django on the bench database and migrate it."""
    os.environ["DATABASE_URL"] = app_url
    os.environ["BENCH_PLAIN_DATABASE_URL"] = plain_url
    os.environ["DATABASE_RUNTIME_ROLE"] = ROLE
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key")
    os.environ["DJANGO_ENV_FILE"] = ""
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def reach_through(server_url: str) -> None:
    """Point the default, plain and peer aliases at `server_url`'s host and port.

    For a proxy that adds round-trip time: both sides go through it, and
    each opens a new connection on its next query.
    """
    from django.db import connections

    parts = urlsplit(server_url)
    for alias in ("default", "plain", "peer"):
        connection = connections[alias]
        connection.close()
        connection.settings_dict["HOST"] = parts.hostname
        connection.settings_dict["PORT"] = parts.port


def manage(app_url: str, *args: str) -> tuple[float, str]:
    """Run a manage.py command in a child process; return wall time, output."""
    env = {
        **os.environ,
        "DATABASE_URL": app_url,
        "DJANGO_SETTINGS_MODULE": "todoproject.settings",
        "DJANGO_DEBUG": "true",
        "DJANGO_ENV_FILE": "",
        # Each seeding chunk is a multi-second INSERT by design.
        "DATABASE_SLOW_QUERY_MS": "0",
    }
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    )
    return time.perf_counter() - started, result.stdout


def raw_copy(admin_db_url: str, owner_ids: list[int], per_user: int) -> float:
    """COPY per_user tasks for each owner as a superuser; return seconds.

    Row-level security refuses COPY FROM for everyone it applies to, the
    table's owner included, so the floor is a superuser's COPY.
    """
    rng = random.Random(1)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with (
        psycopg.connect(admin_db_url) as conn,
        conn.cursor() as cursor,
        cursor.copy(
            "COPY tasks_task (title, description, completed, created_at, "
            "updated_at, owner_id) FROM STDIN"
        ) as copy,
    ):
        for owner_id in owner_ids:
            for n in range(per_user):
                created = now - timedelta(minutes=n)
                copy.write_row(
                    (
                        f"Raw task {n} of {owner_id}",
                        "",
                        rng.random() < 0.3,
                        created,
                        created,
                        owner_id,
                    )
                )
    return time.perf_counter() - started


def make_users(admin_db_url: str, prefix: str, count: int) -> list[int]:
    """Insert `count` users named `prefix`1, `prefix`2, ...; return their ids."""
    with psycopg.connect(admin_db_url) as conn:
        rows = conn.execute(
            "INSERT INTO accounts_user (password, is_superuser, username, "
            "first_name, last_name, email, is_staff, is_active, date_joined) "
            "SELECT '!', false, %s || n, '', '', %s || n || '@bench.invalid', "
            "false, true, now() FROM generate_series(1, %s) AS n RETURNING id",
            [prefix, prefix, count],
        ).fetchall()
    return [row[0] for row in rows]


def load(args, admin_db_url: str, app_url: str) -> dict:
    """Time seed_sample_data against a raw COPY of as many rows; keep the seed."""
    rows = args.users * args.tasks_per_user
    log(f"==> raw COPY of {rows:,} tasks (superuser), the floor")
    baseline_owners = make_users(admin_db_url, "copy-baseline-", args.users)
    raw_seconds = raw_copy(admin_db_url, baseline_owners, args.tasks_per_user)
    with psycopg.connect(admin_db_url) as conn:
        conn.execute("TRUNCATE tasks_task")
        conn.execute("DELETE FROM accounts_user WHERE username LIKE 'copy-baseline-%'")
    log(f"    {rows / raw_seconds:,.0f} rows/s")

    log(f"==> seed_sample_data --users {args.users} --tasks-per-user ...")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    wall_seconds, output = manage(
        app_url,
        "seed_sample_data",
        "--users",
        str(args.users),
        "--tasks-per-user",
        str(args.tasks_per_user),
    )
    peak_kib = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    # The command's own timing, as for COPY: without the interpreter's and
    # Django's start-up, which the wall time includes.
    match = re.search(r"tasks in ([\d.]+) s", output)
    seed_seconds = float(match.group(1)) if match else wall_seconds
    log(f"    {rows / seed_seconds:,.0f} rows/s, peak RSS {peak_kib / 1024:.0f} MiB")
    with psycopg.connect(admin_db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE tasks_task")
        conn.execute("VACUUM ANALYZE accounts_user")
    return {
        "rows": rows,
        "raw_copy_rows_per_s": round(rows / raw_seconds),
        "seed_rows_per_s": round(rows / seed_seconds),
        "ratio": round(raw_seconds / seed_seconds, 2),
        "seed_peak_rss_mib": round(peak_kib / 1024),
        "seed_seconds": round(seed_seconds, 2),
        "seed_seconds_including_startup": round(wall_seconds, 2),
    }
