"""
The data layer against its physical limit: raw psycopg, measured in the same run.

    make bench                 # 1,000 users x 1,000 tasks (about 5 minutes)
    make bench ARGS=--quick    # 100 x 100, under a minute
    make bench ARGS="--rtt-ms 1"   # with 1 ms of network per round trip
    python -m bench.benchmark --help

Needs a PostgreSQL superuser URL (BENCH_DATABASE_URL, TEST_DATABASE_URL or
DATABASE_URL; make bench starts an embedded server when none is set). The
run creates the database todoproject_bench owned by the plain runtime role,
migrates it and loads it through the project's own seeding command, timed
against a raw COPY of the same number of rows. Then every service is timed
against raw psycopg doing the same work with the same guarantees: the same
filters, and the acting user set in the same implicit transaction, in
several ways:

- raw: a pipeline of the prepared set_config and statement, then Sync.
  Leaving psycopg's pipeline block sends a second Sync and waits for it,
  so this is two round trips (the first column, kept for its targets).
- one round trip, the best of: the same pipeline kept open on its
  connection (one Sync per call), and the set_config glued in front of the
  statement in one simple-protocol query string, as the services send it.
- the patterns of other libraries: a session-level SET before the
  statement and a RESET after it (django-rls-tenants' default: three round
  trips), and BEGIN, set_config, the statement and COMMIT (four).

--rtt-ms N puts a proxy (bench/delay_proxy.py) between every connection of
the timed part and PostgreSQL that adds N ms to each round trip (N/2 each
way); loading and the superuser's work go direct. Timings interleave all
sides call by call, so noise hits them alike.

Prints the tables and writes them as JSON and Markdown under results/bench/.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import ClientCursor, pq, sql

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import pg_role  # noqa: E402

from bench.delay_proxy import delayed  # noqa: E402

RESULTS = ROOT / "results" / "bench"
DATABASE = "todoproject_bench"
# The benchmark's own role: its password is reset on every run.
ROLE = "todoproject_bench"

# Targets from the performance issue: (ratio limit, what is compared).
TARGETS = {
    "get_tasks": 2.5,
    "get_task": 3.0,
    "count_tasks": 2.0,
    "toggle_complete": 1.5,
    "delete_user": 1.5,
}
# With --rtt-ms: each service against the best one-round-trip raw call, and
# how many times faster than each peer pattern it must be.
ONE_ROUND_TRIP_TARGET = 1.3
PEER_TARGET = 2.0
SEED_TARGET = 0.5  # seeding rows/s at least half of raw COPY's
SCALING_TARGET = 1.5  # list latency at the largest size vs the smallest

TASK_COLUMNS = "id, title, description, completed, created_at, updated_at, owner_id"
# What ownership.scope sends for a user: the same settings, the same checks.
SET_USER = (
    "SELECT set_config('todoproject.user_id', %s, true), "
    "set_config('todoproject.system', '', true), "
    "set_config('todoproject.staff', '', true), "
    "set_config('todoproject.transaction', "
    "(extract(epoch FROM now()) * 1000000)::bigint::text, true)"
)
# The raw sides besides Django and "raw", in the order they run each call.
PREPARED, GLUED = "one_rt_prepared", "one_rt_glued"
PEER_SESSION, PEER_TRANSACTION = "peer_session", "peer_transaction"
SIDES = (PREPARED, GLUED, PEER_SESSION, PEER_TRANSACTION)
PEERS = {
    PEER_SESSION: "SET, statement, RESET",
    PEER_TRANSACTION: "BEGIN, set_config, statement, COMMIT",
}


@dataclass
class Timing:
    name: str
    django_us: list[float] = field(default_factory=list)
    raw_us: list[float] = field(default_factory=list)
    django_round_trips: int = 0
    django_statements: int = 0
    raw_round_trips: int = 2
    raw_statements: int = 2
    sides: dict[str, list[float]] = field(default_factory=dict)
    side_round_trips: dict[str, int] = field(default_factory=dict)
    # The sides that are one round trip with the same guarantee as Django's.
    one_round_trip: tuple[str, ...] = (PREPARED, GLUED)

    def summary(self) -> dict:
        django_median = statistics.median(self.django_us)
        raw_median = statistics.median(self.raw_us)
        medians = {"raw": raw_median}
        medians.update({k: statistics.median(v) for k, v in self.sides.items()})
        best = min(self.one_round_trip, key=medians.__getitem__)
        peers = {
            name: {
                "median_us": round(medians[name], 1),
                "times_django": round(medians[name] / django_median, 2),
                "round_trips": self.side_round_trips.get(name),
            }
            for name in PEERS
            if name in medians
        }
        return {
            "operation": self.name,
            "django_median_us": round(django_median, 1),
            "django_p99_us": round(percentile(self.django_us, 99), 1),
            "raw_median_us": round(raw_median, 1),
            "raw_p99_us": round(percentile(self.raw_us, 99), 1),
            "ratio": round(django_median / raw_median, 2),
            "target": TARGETS.get(self.name),
            "django_round_trips": self.django_round_trips,
            "django_statements": self.django_statements,
            "raw_round_trips": self.raw_round_trips,
            "raw_statements": self.raw_statements,
            "calls": len(self.django_us),
            "one_rt_kind": best,
            "one_rt_median_us": round(medians[best], 1),
            "one_rt_round_trips": {
                "raw": self.raw_round_trips,
                **self.side_round_trips,
            }.get(best),
            "one_rt_ratio": round(django_median / medians[best], 2),
            "side_medians_us": {k: round(v, 1) for k, v in medians.items()},
            "side_round_trips": self.side_round_trips,
            "peers": peers,
        }


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index]


def log(message: str) -> None:
    print(message, flush=True)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


# Setup -----------------------------------------------------------------


def prepare_database(admin_url: str) -> str:
    """Create a fresh bench database owned by the runtime role; return its URL."""
    pg_role.drop_database(admin_url, DATABASE)
    password = pg_role.read_password(None)
    # One role that owns the database and serves it: the benchmark measures
    # speed, not the roles (the test suite proves those).
    pg_role.ensure_role(admin_url, ROLE, password, owner=True)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(DATABASE), sql.Identifier(ROLE)
            )
        )
    return pg_role.runtime_url(admin_url, ROLE, password, DATABASE)


def setup_django(app_url: str) -> None:
    os.environ["DATABASE_URL"] = app_url
    os.environ["DATABASE_RUNTIME_ROLE"] = ROLE
    os.environ.setdefault("DJANGO_SECRET_KEY", "benchmark-only-secret-key")
    os.environ["DJANGO_ENV_FILE"] = ""
    os.environ["DJANGO_DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todoproject.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def manage(app_url: str, *args: str) -> tuple[float, str]:
    """Run a manage.py command in a child process; return wall time, output."""
    env = {
        **os.environ,
        "DATABASE_URL": app_url,
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


# Loading ---------------------------------------------------------------


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
        "target": SEED_TARGET,
        "seed_peak_rss_mib": round(peak_kib / 1024),
        "seed_seconds": round(seed_seconds, 2),
        "seed_seconds_including_startup": round(wall_seconds, 2),
    }


# Service timings -------------------------------------------------------


class Raw:
    """Raw psycopg as the runtime role: prepared statements, a pipeline block.

    Two round trips: the explicit Sync, then the one psycopg sends when the
    block ends.
    """

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(url, autocommit=True, prepare_threshold=0)
        self.set_user = self.conn.cursor()
        self.cursor = self.conn.cursor()

    def scoped(self, user_id: int, query: str, params: list) -> list:
        """set_config and `query` in one implicit transaction, one round trip."""
        with self.conn.pipeline() as pipeline:
            self.set_user.execute(SET_USER, [str(user_id)], prepare=True)
            self.cursor.execute(query, params, prepare=True)
            pipeline.sync()
            return self.cursor.fetchall() if self.cursor.description else []

    def close(self) -> None:
        self.conn.close()


class Others:
    """The other raw sides, each on a connection of its own.

    Every method runs `query` with `params` as `user_id`, like Raw.scoped.
    """

    def __init__(self, url: str) -> None:
        self.prepared_conn = psycopg.connect(url, autocommit=True, prepare_threshold=0)
        # A pipeline left open: each Sync ends one implicit transaction and
        # is the only wait, so set_config and the statement share it.
        self.open_pipeline = contextlib.ExitStack()
        self.pipeline = self.open_pipeline.enter_context(self.prepared_conn.pipeline())
        self.prepared_set_user = self.prepared_conn.cursor()
        self.prepared_cursor = self.prepared_conn.cursor()
        self.glued_conn = psycopg.connect(
            url, autocommit=True, cursor_factory=ClientCursor
        )
        self.glued_cursor = self.glued_conn.cursor()
        self.session_conn = psycopg.connect(url, autocommit=True, prepare_threshold=0)
        self.transaction_conn = psycopg.connect(
            url, autocommit=True, prepare_threshold=0
        )
        self.conns = {
            PREPARED: self.prepared_conn,
            GLUED: self.glued_conn,
            PEER_SESSION: self.session_conn,
            PEER_TRANSACTION: self.transaction_conn,
        }
        self.run = {
            PREPARED: self.prepared,
            GLUED: self.glued,
            PEER_SESSION: self.peer_session,
            PEER_TRANSACTION: self.peer_transaction,
        }

    def prepared(self, user_id: int, query: str, params: list) -> list:
        self.prepared_set_user.execute(SET_USER, [str(user_id)], prepare=True)
        self.prepared_cursor.execute(query, params, prepare=True)
        self.pipeline.sync()
        cursor = self.prepared_cursor
        return cursor.fetchall() if cursor.description else []

    def glued(self, user_id: int, query: str, params: list) -> list:
        # Simple query protocol: both statements in one implicit transaction.
        literal = str(int(user_id))
        set_user = SET_USER.replace("%s", f"'{literal}'")
        cursor = self.glued_cursor
        cursor.execute(f"{set_user}; {query}", params)
        cursor.nextset()
        return cursor.fetchall() if cursor.description else []

    def peer_session(self, user_id: int, query: str, params: list) -> list:
        # Our policies count no session-level acting user (that is the point
        # of todoproject.transaction), so the session pattern sets the owner's
        # system scope instead: the same three round trips, and the same
        # rows, since every statement filters on the owner itself.
        conn = self.session_conn
        conn.execute("SET todoproject.system = on", prepare=False)
        cursor = conn.execute(query, params, prepare=True)
        rows = cursor.fetchall() if cursor.description else []
        conn.execute("RESET todoproject.system", prepare=False)
        return rows

    def peer_transaction(self, user_id: int, query: str, params: list) -> list:
        conn = self.transaction_conn
        conn.execute("BEGIN", prepare=False)
        conn.execute(SET_USER, [str(user_id)], prepare=True)
        cursor = conn.execute(query, params, prepare=True)
        rows = cursor.fetchall() if cursor.description else []
        conn.execute("COMMIT", prepare=False)
        return rows

    def close(self) -> None:
        self.open_pipeline.close()
        for conn in (
            self.prepared_conn,
            self.glued_conn,
            self.session_conn,
            self.transaction_conn,
        ):
            conn.close()


def round_trips_of(conn: psycopg.Connection, call: Callable[[], object]) -> int:
    """Return how many times `call` waits for PostgreSQL on `conn`.

    libpq's protocol trace lists each message sent (F) and received (B) in
    order; every run of messages sent followed by an answer is a round
    trip, BEGIN and COMMIT included, whatever the code above psycopg does.
    """
    with tempfile.TemporaryFile("w+") as trace:
        conn.pgconn.trace(trace.fileno())
        conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        try:
            call()
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        directions = [line.split("\t", 1)[0] for line in trace if line.strip()]
    return sum(
        1
        for before, after in itertools.pairwise(directions)
        if (before, after) == ("F", "B")
    )


def count_round_trips(call: Callable[[], object]) -> tuple[int, int]:
    """Return (round trips, statements) one call of a service sends."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    connection.ensure_connection()
    with CaptureQueriesContext(connection) as queries:
        round_trips = round_trips_of(connection.connection, call)
    statements = sum(
        2 if q["sql"].startswith("SELECT set_config(") and "; " in q["sql"] else 1
        for q in queries.captured_queries
    )
    return round_trips, statements


def count_raw_round_trips(
    timing: Timing,
    raw: Raw,
    others: Others,
    raw_call: Callable[[int], object],
    other_calls: dict[str, Callable[[int], object]],
    sample: int,
) -> None:
    """Trace one call of every raw side; record its round trips in `timing`."""
    timing.raw_round_trips = round_trips_of(raw.conn, lambda: raw_call(sample))
    timing.side_round_trips = {
        side: round_trips_of(others.conns[side], lambda call=call: call(sample))
        for side, call in other_calls.items()
    }


def time_sides(
    timing: Timing,
    calls: int,
    django_call: Callable[[int], object],
    raw_call: Callable[[int], object],
    others: dict[str, Callable[[int], object]],
) -> Timing:
    """Time call i of Django, raw and every other side, i after i."""
    timing.sides = {name: [] for name in others}
    for i in range(calls):
        started = time.perf_counter_ns()
        django_call(i)
        middle = time.perf_counter_ns()
        raw_call(i)
        ended = time.perf_counter_ns()
        timing.django_us.append((middle - started) / 1000)
        timing.raw_us.append((ended - middle) / 1000)
        for name, call in others.items():
            started = time.perf_counter_ns()
            call(i)
            timing.sides[name].append((time.perf_counter_ns() - started) / 1000)
    return timing


def time_services(args, admin_db_url: str, db_url: str) -> list[dict]:
    from accounts.models import User
    from ownership.scope import system_scope
    from tasks import services
    from tasks.models import Task
    from tasks.sample_data import sample_users

    rng = random.Random(7)
    users = list(User.objects.filter(sample_users()).order_by("pk"))
    with system_scope():
        by_owner: dict[int, list[int]] = {}
        for task_id, owner_id in Task.objects.values_list("id", "owner_id").iterator():
            by_owner.setdefault(owner_id, []).append(task_id)
    users = [u for u in users if by_owner.get(u.pk)]
    picks = [rng.choice(users) for _ in range(args.calls)]
    task_picks = [rng.choice(by_owner[u.pk]) for u in picks]
    raw = Raw(db_url)
    others = Others(db_url)
    columns = TASK_COLUMNS
    results = []

    def run(name, django_call, statement, sample):
        """Time `django_call(i)` against every raw side running `statement(i)`.

        `statement(i)` returns (acting user id, SQL, parameters).
        """
        log(f"    {name}")
        timing = Timing(name)
        raw_call = lambda i: raw.scoped(*statement(i))  # noqa: E731
        other_calls = {
            side: lambda i, run_side=others.run[side]: run_side(*statement(i))
            for side in SIDES
        }
        # Warm every side (connections, prepared statements, caches).
        for i in range(min(50, args.calls)):
            django_call(i)
            raw_call(i)
            for call in other_calls.values():
                call(i)
        timing.django_round_trips, timing.django_statements = count_round_trips(
            lambda: django_call(sample)
        )
        count_raw_round_trips(timing, raw, others, raw_call, other_calls, sample)
        time_sides(timing, args.calls, django_call, raw_call, other_calls)
        results.append(timing.summary())

    log(f"==> services, {args.calls} calls each, against raw psycopg")
    run(
        "get_tasks",
        lambda i: list(services.get_tasks(picks[i], completed=False)[:50]),
        lambda i: (
            picks[i].pk,
            f"SELECT {columns} FROM tasks_task WHERE owner_id = %s "
            "AND NOT completed ORDER BY created_at DESC, id DESC LIMIT 50",
            [picks[i].pk],
        ),
        0,
    )
    run(
        "get_task",
        lambda i: services.get_task(picks[i], task_picks[i]),
        lambda i: (
            picks[i].pk,
            f"SELECT {columns} FROM tasks_task WHERE id = %s AND owner_id = %s",
            [task_picks[i], picks[i].pk],
        ),
        0,
    )
    run(
        "count_tasks",
        lambda i: services.count_tasks(picks[i]),
        lambda i: (
            picks[i].pk,
            "SELECT completed, count(*) FROM tasks_task WHERE owner_id = %s "
            "GROUP BY completed",
            [picks[i].pk],
        ),
        0,
    )
    run(
        "create_task",
        lambda i: services.create_task(picks[i], title=f"Benchmark task {i}"),
        lambda i: (
            picks[i].pk,
            "INSERT INTO tasks_task (title, description, completed, created_at, "
            "updated_at, owner_id) VALUES (%s, '', false, now(), now(), %s) "
            "RETURNING id",
            [f"Raw benchmark task {i}", picks[i].pk],
        ),
        0,
    )
    run(
        "update_task",
        lambda i: services.update_task(picks[i], task_picks[i], title=f"Renamed {i}"),
        lambda i: (
            picks[i].pk,
            f"UPDATE tasks_task SET title = %s, updated_at = now() "
            f"WHERE id = %s AND owner_id = %s RETURNING {columns}",
            [f"Raw renamed {i}", task_picks[i], picks[i].pk],
        ),
        0,
    )
    run(
        "toggle_complete",
        lambda i: services.toggle_complete(picks[i], task_picks[i]),
        lambda i: (
            picks[i].pk,
            "UPDATE tasks_task SET completed = NOT completed, updated_at = now() "
            f"WHERE id = %s AND owner_id = %s RETURNING {columns}",
            [task_picks[i], picks[i].pk],
        ),
        0,
    )
    # Tasks to delete, made up front by the superuser in one statement: for
    # every call (and warm-up), one for Django, one for raw, one per side.
    # Each task is made the same twice over: which call it is for.
    victim_calls = args.calls + 52
    per_call = 2 + len(SIDES)
    owner_users = [
        picks[n // per_call % len(picks)] for n in range(victim_calls * per_call)
    ]
    owners = [user.pk for user in owner_users]
    with psycopg.connect(admin_db_url) as conn:
        rows = conn.execute(
            "INSERT INTO tasks_task (title, description, completed, created_at, "
            "updated_at, owner_id) SELECT 'to delete ' || n, '', false, now(), "
            "now(), owner FROM unnest(%s::bigint[]) WITH ORDINALITY AS v(owner, n) "
            "RETURNING id, title",
            [owners],
        ).fetchall()
    victims = [0] * len(owners)
    for task_id, title in rows:
        victims[int(title.rsplit(" ", 1)[1]) - 1] = task_id
    # Each side takes the next call's task as it runs, warm-up included.
    next_call = dict.fromkeys(("django", "raw", *SIDES), 0)

    def victim(side: str) -> tuple[User, int]:
        call = next_call[side]
        next_call[side] += 1
        n = call * per_call + list(next_call).index(side)
        return owner_users[n], victims[n]

    def django_delete(_):
        owner, task_id = victim("django")
        services.delete_task(owner, task_id)

    def delete_statement(side: str):
        def statement(_):
            owner, task_id = victim(side)
            owner_id = owner.pk
            return (
                owner_id,
                "DELETE FROM tasks_task WHERE id = %s AND owner_id = %s",
                [task_id, owner_id],
            )

        return statement

    log("    delete_task")
    timing = Timing("delete_task")
    raw_delete = lambda i: raw.scoped(*delete_statement("raw")(i))  # noqa: E731
    other_deletes = {
        side: lambda i, side=side: others.run[side](*delete_statement(side)(i))
        for side in SIDES
    }
    for i in range(min(50, args.calls)):
        django_delete(i)
        raw_delete(i)
        for call in other_deletes.values():
            call(i)
    # Each side uses up one task here, so all stay on the same call.
    timing.django_round_trips, timing.django_statements = count_round_trips(
        lambda: django_delete(0)
    )
    count_raw_round_trips(timing, raw, others, raw_delete, other_deletes, 0)
    time_sides(timing, args.calls, django_delete, raw_delete, other_deletes)
    results.append(timing.summary())
    raw.close()
    others.close()
    return results


def time_delete_user(args, admin_db_url: str, db_url: str) -> dict:
    """Delete users with 1,000 tasks: accounts.services.delete_user, raw DELETE.

    The raw DELETE is already one round trip with the same guarantee (the
    cascade ignores the scope); the peer patterns set the deleted user as
    the acting one around it, as their middleware would for the request.
    """
    from accounts.models import User
    from accounts.services import delete_user

    rounds = 5 if args.quick else 20
    log(f"==> deleting a user with 1,000 tasks, {rounds} times each")
    per_round = 2 + len(PEERS)
    # One round more than timed: traced for the round trips, not timed.
    owners = make_users(admin_db_url, "delete-me-", per_round * (rounds + 1))
    raw_copy(admin_db_url, owners, 1000)
    with psycopg.connect(admin_db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE tasks_task")
    raw = psycopg.connect(db_url, autocommit=True, prepare_threshold=0)
    others = Others(db_url)
    query = "DELETE FROM accounts_user WHERE id = %s"
    timing = Timing(
        "delete_user", raw_round_trips=1, raw_statements=1, one_round_trip=("raw",)
    )
    timing.sides = {name: [] for name in PEERS}
    for i in range(rounds + 1):
        mine = owners[per_round * i : per_round * (i + 1)]
        user = User.objects.get(pk=mine[0])
        if i == rounds:
            timing.django_round_trips, timing.django_statements = count_round_trips(
                lambda user=user: delete_user(user)
            )
            timing.raw_round_trips = round_trips_of(
                raw, lambda mine=mine: raw.execute(query, [mine[1]], prepare=True)
            )
            timing.side_round_trips = {
                name: round_trips_of(
                    others.conns[name],
                    lambda name=name, owner_id=owner_id: others.run[name](
                        owner_id, query, [owner_id]
                    ),
                )
                for name, owner_id in zip(PEERS, mine[2:], strict=True)
            }
            continue
        started = time.perf_counter_ns()
        delete_user(user)
        middle = time.perf_counter_ns()
        raw.execute(query, [mine[1]], prepare=True)
        ended = time.perf_counter_ns()
        timing.django_us.append((middle - started) / 1000)
        timing.raw_us.append((ended - middle) / 1000)
        for name, owner_id in zip(PEERS, mine[2:], strict=True):
            started = time.perf_counter_ns()
            others.run[name](owner_id, query, [owner_id])
            timing.sides[name].append((time.perf_counter_ns() - started) / 1000)
    raw.close()
    others.close()
    with psycopg.connect(admin_db_url) as conn:
        left = conn.execute(
            "SELECT count(*) FROM tasks_task WHERE owner_id = ANY(%s)", [owners]
        ).fetchone()[0]
    assert left == 0, f"{left} tasks of deleted users remain"
    return timing.summary()


# The admin ---------------------------------------------------------------

# (label, query string) of the task changelist requests timed, as staff.
ADMIN_PAGES = [
    ("changelist", ""),
    ("date filter: today", None),  # the filter's own link, found at run time
    ("search: a common title word", "?q=milk"),
    ("search: a word in no title", "?q=no-such-title-word"),
    ("search: an owner's username", "?q=sample-0001"),
    ("search: two title words", "?q=passes+tomorrow"),
]


def time_admin_pages(client, staff, calls: int) -> dict[str, float]:
    """Return the median ms of each of ADMIN_PAGES, fetched as `staff`."""
    url = "/admin/tasks/task/"
    client.force_login(staff)
    first = client.get(url)
    assert first.status_code == 200, first.status_code
    changelist = first.context["cl"]
    (dates,) = [f for f in changelist.filter_specs if f.title == "created at"]
    today = {c["display"]: c["query_string"] for c in dates.choices(changelist)}
    medians = {}
    for label, query in ADMIN_PAGES:
        query = today["Today"] if query is None else query
        samples = []
        for _ in range(calls):
            started = time.perf_counter()
            response = client.get(url + query)
            samples.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (label, response.status_code)
        medians[label] = round(statistics.median(samples), 1)
    return medians


def time_admin(args, admin_db_url: str) -> dict:
    """Time the task changelist before and after the admin's changes.

    Before: no (created_at DESC, id DESC) index, a date_hierarchy (a
    SELECT DISTINCT over the table on every page) and Django's own search
    (a LIKE on every task); after: as shipped, the search through the
    trigram index (tasks/search.py).
    """
    from django.conf import settings
    from django.contrib import admin
    from django.test import Client
    from django.test.utils import setup_test_environment

    from accounts.models import User
    from tasks.models import Task

    setup_test_environment()  # the test client's "testserver" host
    settings.SLOW_QUERY_MS = 0  # the "before" side is slow by design
    staff = User.objects.filter(is_superuser=True, is_active=True).first()
    task_admin = admin.site.get_model_admin(Task)
    calls = 5 if args.quick else 10
    log(f"==> the admin's task list as staff ({calls} calls each, median)")
    results = {}
    for state in ("before", "after"):
        with psycopg.connect(admin_db_url, autocommit=True) as conn:
            if state == "before":
                conn.execute("DROP INDEX IF EXISTS task_created_idx")
            else:
                conn.execute(
                    'CREATE INDEX IF NOT EXISTS "task_created_idx" ON "tasks_task" '
                    '("created_at" DESC, "id" DESC)'
                )
            conn.execute("ANALYZE tasks_task")
        task_admin.date_hierarchy = "created_at" if state == "before" else None
        if state == "before":
            task_admin.get_search_results = partial(
                admin.ModelAdmin.get_search_results, task_admin
            )
        else:
            vars(task_admin).pop("get_search_results", None)
        results[state] = time_admin_pages(Client(), staff, calls)
        for label, ms in results[state].items():
            log(f"    {state:<6} {label:<30} {ms:>9,.1f} ms")
    task_admin.date_hierarchy = None
    return results


# Plans and scaling ------------------------------------------------------


def explain(user_id: int) -> dict:
    from django.db import connection

    queries = {
        "list": "SELECT * FROM tasks_task WHERE owner_id = %s AND NOT completed "
        "ORDER BY created_at DESC, id DESC LIMIT 50",
        "count": "SELECT completed, count(*) FROM tasks_task WHERE owner_id = %s "
        "GROUP BY completed",
    }
    plans = {}
    with connection.cursor() as cursor:
        for name, query in queries.items():
            cursor.execute("BEGIN")
            cursor.execute(SET_USER, [str(user_id)])
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}", [user_id])
            lines = [row[0] for row in cursor.fetchall()]
            cursor.execute("COMMIT")
            plan = "\n".join(lines)
            plans[name] = {
                "plan": plan,
                "uses_composite_index": "task_owner_done_created_idx" in plan,
                "sorts": any(line.strip().startswith("Sort") for line in lines)
                or "->  Sort" in plan,
            }
    return plans


def list_latency(users, calls: int) -> float:
    from tasks import services

    samples = []
    for i in range(calls):
        user = users[i % len(users)]
        started = time.perf_counter_ns()
        list(services.get_tasks(user, completed=False)[:50])
        samples.append((time.perf_counter_ns() - started) / 1000)
    return statistics.median(samples)


def time_scaling(args, admin_db_url: str) -> list[dict]:
    """List latency as the table shrinks from its full size to 10,000 rows."""
    from accounts.models import User
    from tasks.sample_data import sample_users

    log("==> list latency against table size")
    users = list(User.objects.filter(sample_users()).order_by("pk"))
    sizes = []
    keep = len(users)
    while True:
        with psycopg.connect(admin_db_url, autocommit=True) as conn:
            rows = conn.execute("SELECT count(*) FROM tasks_task").fetchone()[0]
        sample = users[:keep][:: max(1, keep // 50)]
        sizes.append({"rows": rows, "list_median_us": round(list_latency(sample, 500))})
        log(f"    {rows:>12,} rows: {sizes[-1]['list_median_us']:>6} us")
        if rows < 20_000 or keep <= 1:
            break
        keep = max(1, keep // 10)
        kept_ids = [u.pk for u in users[:keep]]
        with psycopg.connect(admin_db_url, autocommit=True) as conn:
            conn.execute("DELETE FROM tasks_task WHERE owner_id <> ALL(%s)", [kept_ids])
            conn.execute("VACUUM ANALYZE tasks_task")
    return sizes


# Report ----------------------------------------------------------------


def verdict(ratio: float | None, target: float | None, *, higher: bool = False) -> str:
    if ratio is None or target is None:
        return ""
    ok = ratio >= target if higher else ratio <= target
    return "met" if ok else "MISSED"


ONE_RT_KINDS = {PREPARED: "prepared", GLUED: "glued", "raw": "raw"}


def render(report: dict) -> str:
    rtt_ms = report.get("rtt_ms", 0)
    judged = rtt_ms > 0
    network = (
        f"{rtt_ms:g} ms added to each round trip (bench/delay_proxy.py)"
        if judged
        else "direct loopback (no added round-trip time)"
    )
    lines = [
        f"Benchmark {report['date']} on {report['machine']}, "
        f"{report['server_version']}, {report['load']['rows']:,} tasks "
        f"({report['users']:,} users x {report['tasks_per_user']:,}), {network}",
        "",
        "| operation | Django median µs | p99 µs | raw median µs | p99 µs | "
        "Django / raw | target | round trips (stmts) Django / raw | "
        "1-RT raw median µs | Django / 1-RT |",
        "|---|---:|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    one_rt_met = peers_met = 0
    for row in report["services"]:
        target = f"≤ {row['target']}x {verdict(row['ratio'], row['target'])}"
        if row["target"] is None:
            target = "-"
        one_rt = f"{row['one_rt_ratio']}x"
        if judged:
            one_rt_verdict = verdict(row["one_rt_ratio"], ONE_ROUND_TRIP_TARGET)
            one_rt_met += one_rt_verdict == "met"
            one_rt += f" {one_rt_verdict}"
        lines.append(
            f"| {row['operation']} | {row['django_median_us']:,} | "
            f"{row['django_p99_us']:,} | {row['raw_median_us']:,} | "
            f"{row['raw_p99_us']:,} | {row['ratio']}x | {target} | "
            f"{row['django_round_trips']} ({row['django_statements']}) / "
            f"{row['raw_round_trips']} ({row['raw_statements']}) | "
            f"{row['one_rt_median_us']:,} ({ONE_RT_KINDS[row['one_rt_kind']]}, "
            f"{row['one_rt_round_trips']} RT) | "
            f"{one_rt} |"
        )
    count = len(report["services"])
    lines += [
        "",
        "raw: prepared set_config and statement in a pipeline block (its "
        "closing Sync is a round trip of its own); 1-RT: the faster of the "
        "same pipeline left open (prepared) and set_config glued to the "
        "statement in one simple-protocol query (glued). Round trips (RT) "
        "are counted in libpq's protocol trace of one call.",
        "",
        "| operation | Django median µs | "
        + " | ".join(f"{label} median µs | that / Django" for label in PEERS.values())
        + f" | target ≥ {PEER_TARGET}x both |",
        "|---|---:|" + "---:|---:|" * len(PEERS) + "---|",
    ]
    for row in report["services"]:
        peers = row["peers"]
        cells = " | ".join(
            f"{peers[name]['median_us']:,} ({peers[name]['round_trips']} RT) | "
            f"{peers[name]['times_django']}x"
            for name in PEERS
        )
        worst = min(peers[name]["times_django"] for name in PEERS)
        if judged:
            peer_verdict = verdict(worst, PEER_TARGET, higher=True)
            peers_met += peer_verdict == "met"
        else:
            peer_verdict = "not judged at 0 ms"
        lines.append(
            f"| {row['operation']} | {row['django_median_us']:,} | {cells} | "
            f"{peer_verdict} |"
        )
    lines.append("")
    if judged:
        lines.append(
            f"Targets at {rtt_ms:g} ms: within {ONE_ROUND_TRIP_TARGET}x of one "
            f"round trip: {one_rt_met} of {count} met; at least {PEER_TARGET}x "
            f"faster than both peer patterns: {peers_met} of {count} met."
        )
    else:
        lines.append(
            f"The one-round-trip (≤ {ONE_ROUND_TRIP_TARGET}x) and peer "
            f"(≥ {PEER_TARGET}x) targets are judged with --rtt-ms, e.g. 1."
        )
    load = report["load"]
    load_verdict = (
        "not judged: --quick loads too little for a rate"
        if report["quick"]
        else verdict(load["ratio"], load["target"], higher=True)
    )
    lines += [
        "",
        f"Loading: seed_sample_data {load['seed_rows_per_s']:,} rows/s, raw COPY "
        f"{load['raw_copy_rows_per_s']:,} rows/s: {load['ratio']} of COPY "
        f"(target ≥ {load['target']}: "
        f"{load_verdict}), "
        f"peak RSS {load['seed_peak_rss_mib']} MiB.",
        "",
        "List latency by table size: "
        + ", ".join(
            f"{s['rows']:,} rows {s['list_median_us']} µs" for s in report["scaling"]
        )
        + f" (largest / smallest {report['scaling_ratio']}x, "
        f"target ≤ {SCALING_TARGET}: "
        f"{verdict(report['scaling_ratio'], SCALING_TARGET)}).",
        "",
    ]
    if "admin" in report:
        lines += [
            "The admin's task list as staff (median ms): before = no "
            "task_created_idx and a date_hierarchy; after = as shipped.",
            "",
            "| request | before ms | after ms |",
            "|---|---:|---:|",
        ]
        for label, before in report["admin"]["before"].items():
            after = report["admin"]["after"][label]
            lines.append(f"| {label} | {before:,} | {after:,} |")
        lines.append("")
    from bench.replicas import render as render_replicas

    lines += render_replicas(report.get("replicas"))
    for name, plan in report["plans"].items():
        lines += [
            f"Plan of the {name} query: composite index "
            f"{'used' if plan['uses_composite_index'] else 'NOT used'}, "
            f"{'a Sort node (MISSED)' if plan['sorts'] else 'no sort'}.",
            "",
            "```",
            plan["plan"],
            "```",
            "",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time the services against raw psycopg on the same server.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="100 x 100, 300 calls (200 with --rtt-ms, to stay under a minute)",
    )
    parser.add_argument("--users", type=int, help="sample users (default 1000)")
    parser.add_argument(
        "--tasks-per-user", type=int, help="tasks per user (default 1000)"
    )
    parser.add_argument("--calls", type=int, help="timed calls per operation")
    parser.add_argument(
        "--ten-million",
        action="store_true",
        help="load 10,000 users x 1,000 tasks for the scaling curve",
    )
    parser.add_argument(
        "--rtt-ms",
        type=float,
        default=0.0,
        help="add this many ms to every round trip of the timed part, through "
        "a delaying proxy on the loopback (half each way; default 0: direct)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.rtt_ms <= 1000:
        parser.error("--rtt-ms must be between 0 and 1000")
    default_users, default_tasks, default_calls = (
        (100, 100, 300) if args.quick else (1000, 1000, 2000)
    )
    if args.ten_million:
        default_users = 10_000
    args.users = args.users or default_users
    args.tasks_per_user = args.tasks_per_user or default_tasks
    if args.quick and args.rtt_ms:
        # Six sides of up to four round trips each: keep under a minute.
        default_calls = 200
    args.calls = args.calls or default_calls

    admin_url = (
        os.environ.get("BENCH_DATABASE_URL")
        or os.environ.get("TEST_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
    )
    if not admin_url or not admin_url.startswith(("postgres://", "postgresql://")):
        sys.exit("error: set BENCH_DATABASE_URL to a PostgreSQL superuser URL")
    started = time.perf_counter()
    app_url = prepare_database(admin_url)
    admin_db_url = with_database(admin_url, DATABASE)
    with contextlib.ExitStack() as stack:
        # Django and every raw side of the timed part go through the same
        # proxy; loading (seed_sample_data against COPY) stays direct.
        db_url = app_url
        if args.rtt_ms:
            db_url = stack.enter_context(delayed(app_url, args.rtt_ms))
        return measure(args, started, admin_db_url, app_url, db_url)


def measure(args, started: float, admin_db_url: str, app_url: str, db_url: str):
    """Run everything after the database is made; print and write the report."""
    setup_django(db_url)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        server_version = f"PostgreSQL {cursor.fetchone()[0]}"

    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.node()} ({os.cpu_count()} cores, "
        f"{platform.machine()}, Python {platform.python_version()})",
        "server_version": server_version,
        "users": args.users,
        "tasks_per_user": args.tasks_per_user,
        "quick": args.quick,
        "rtt_ms": args.rtt_ms,
    }
    report["load"] = load(args, admin_db_url, app_url)
    from accounts.models import User
    from tasks.sample_data import sample_users

    sample_user = User.objects.filter(sample_users()).first()
    report["plans"] = explain(sample_user.pk)
    report["services"] = time_services(args, admin_db_url, db_url)
    report["services"].append(time_delete_user(args, admin_db_url, db_url))
    report["admin"] = time_admin(args, admin_db_url)
    if not args.rtt_ms:
        from bench.replicas import time_replicas

        log("==> read throughput with 0, 1 and 2 streaming replicas")
        report["replicas"] = time_replicas(args, admin_db_url, db_url)
    report["scaling"] = time_scaling(args, admin_db_url)
    report["scaling_ratio"] = round(
        report["scaling"][0]["list_median_us"]
        / report["scaling"][-1]["list_median_us"],
        2,
    )
    report["seconds"] = round(time.perf_counter() - started)

    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    markdown = render(report)
    for name in (stamp, "latest"):
        (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2) + "\n")
        (RESULTS / f"{name}.md").write_text(markdown + "\n")
    log("")
    log(markdown)
    log(f"Written to {RESULTS / 'latest.md'} and .json ({report['seconds']} s).")
    connection.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
