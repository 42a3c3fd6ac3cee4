"""Faults survived, on a throwaway PostgreSQL cluster of this module's own.

The application's default database is pointed at that cluster (migrated by
its owner, then as the runtime role) for the duration of each test, so the services, the
health check and Django's pool run against a server the tests may kill,
restart and starve; the shared server is never touched.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from contextlib import contextmanager
from io import StringIO

import dj_database_url
import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import (
    InterfaceError,
    OperationalError,
    connection,
    connections,
    transaction,
)

from accounts.models import User
from embedded_pg.testing import throwaway
from ownership.scope import system_scope
from tasks import services
from tasks.models import Task
from tests.utils import default_database

pytestmark = pytest.mark.postgresql

ROLE, ROLE_PASSWORD, DATABASE = "fault_owner", "fault-owner-password", "faults"
RUNTIME_PASSWORD = "fault-runtime-password"


@pytest.fixture(scope="module")
def cluster():
    with throwaway() as cluster:
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute(
                f"CREATE ROLE {ROLE} LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS "
                f"PASSWORD '{ROLE_PASSWORD}'"
            )
            conn.execute(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
            # migrate (as ROLE, the owner) grants the runtime role.
            conn.execute(
                f"CREATE ROLE {settings.DATABASE_RUNTIME_ROLE} LOGIN "
                f"PASSWORD '{RUNTIME_PASSWORD}'"
            )
        yield cluster


def app_settings(cluster, *, owner=False, **options) -> dict:
    role, password = (
        (ROLE, ROLE_PASSWORD)
        if owner
        else (settings.DATABASE_RUNTIME_ROLE, RUNTIME_PASSWORD)
    )
    url = f"postgres://{role}:{password}@{cluster.host}:{cluster.port}/{DATABASE}"
    db = dj_database_url.parse(url)
    db.update(CONN_MAX_AGE=0, CONN_HEALTH_CHECKS=True)
    db.setdefault("OPTIONS", {}).update({"connect_timeout": 5, **options})
    return connections.configure_settings({"default": db})["default"]


@pytest.fixture
def fault_db(cluster, django_db_blocker):
    """The cluster as the default database, migrated, with two users."""

    @contextmanager
    def use(**options):
        with (
            django_db_blocker.unblock(),
            default_database(app_settings(cluster, **options)),
        ):
            yield

    with use(owner=True):
        call_command("migrate", verbosity=0)
        with system_scope():
            Task.objects.all().delete()
            User.objects.all().delete()
        for name in ("alice", "bob"):
            User.objects.create_user(name, f"{name}@example.com", "pw-12345678")
    return use


def superuser(cluster):
    return psycopg.connect(cluster.url(DATABASE), autocommit=True)


def stored_count(cluster) -> int:
    with superuser(cluster) as conn:
        return conn.execute("SELECT count(*) FROM tasks_task").fetchone()[0]


def terminate_backend(cluster, pid: int) -> None:
    with superuser(cluster) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # let the termination reach the client's socket


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def test_backend_terminated_between_two_service_calls(fault_db, cluster):
    with fault_db():
        alice = User.objects.get(username="alice")
        task = services.create_task(alice, title="before")
        terminate_backend(cluster, backend_pid())

        # The dead connection is noticed before the statement and replaced.
        services.toggle_complete(alice, task.pk)

        assert services.get_task(alice, task.pk).completed is True


def test_backend_terminated_in_a_multi_statement_write(fault_db, cluster):
    with fault_db():
        alice = User.objects.get(username="alice")
        before = stored_count(cluster)

        def write_three():
            with transaction.atomic():
                services.create_task(alice, title="one")
                services.create_task(alice, title="two")
                terminate_backend(cluster, backend_pid())
                services.create_task(alice, title="three")

        with pytest.raises((OperationalError, InterfaceError)):
            write_three()

        assert stored_count(cluster) == before
        services.create_task(alice, title="after")
        assert stored_count(cluster) == before + 1


def test_server_restart_is_reported_down_then_recovers(fault_db, cluster):
    with fault_db():
        alice = User.objects.get(username="alice")
        services.create_task(alice, title="before the restart")
        cluster.stop()
        try:
            started = time.monotonic()
            out = StringIO()
            with pytest.raises(CommandError) as down:
                call_command("healthcheck", "--timeout", "2", stdout=out)
            elapsed = time.monotonic() - started
        finally:
            cluster.start()

        assert down.value.returncode == 1
        assert re.search(r"^connect +FAIL .* connection refused", out.getvalue(), re.M)
        assert elapsed < 4
        call_command("healthcheck", "--timeout", "5", stdout=StringIO())
        # The connection from before the restart is replaced, not reused.
        assert services.count_tasks(alice).open >= 1


def test_exhausted_pool_fails_clearly_within_its_timeout(fault_db):
    pool = {"min_size": 1, "max_size": 2, "timeout": 1}
    holding, release = threading.Barrier(3), threading.Event()

    def hold_a_connection():
        connections["default"].ensure_connection()
        holding.wait()
        release.wait(10)
        connections["default"].close()

    with fault_db(pool=pool):
        holders = [threading.Thread(target=hold_a_connection) for _ in range(2)]
        for holder in holders:
            holder.start()
        holding.wait()
        try:
            started = time.monotonic()
            with pytest.raises(OperationalError, match="couldn't get a connection"):
                connections["default"].ensure_connection()
            elapsed = time.monotonic() - started
        finally:
            release.set()
            for holder in holders:
                holder.join()

        assert 0.9 < elapsed < 3


def test_statement_timeout_cancels_a_runaway_query(fault_db):
    with fault_db(options="-c statement_timeout=300"):
        with (
            connection.cursor() as cursor,
            pytest.raises(OperationalError, match="statement timeout"),
        ):
            cursor.execute("SELECT pg_sleep(5)")

        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone() == (1,)


LOAD_SECONDS = 4
WORKERS = 16
POOL_SIZE = 8


def test_sixteen_workers_through_the_pool(fault_db, cluster, capsys):
    """Mixed service calls as 8 users, 2 workers each, through a pool of 8."""
    pool = {"min_size": 2, "max_size": POOL_SIZE, "timeout": 10}
    errors, calls, toggles = [], Counter(), Counter()
    stop = threading.Event()
    peak = {"connections": 0}

    with fault_db(pool=pool):
        users = [
            User.objects.create_user(f"load{n}", f"load{n}@example.com", "pw-1234567")
            for n in range(WORKERS // 2)
        ]
        shared = {
            user.pk: services.create_task(user, title="shared").pk for user in users
        }

        def worker(user):
            try:
                n = 0
                while not stop.is_set():
                    n += 1
                    mine = services.create_task(user, title=f"w{n}")
                    services.update_task(user, mine.pk, description="edited")
                    services.toggle_complete(user, shared[user.pk])
                    toggles[user.pk] += 1
                    page = list(services.get_tasks(user)[:20])
                    if any(task.owner_id != user.pk for task in page):
                        errors.append(f"cross-user row for {user}")
                    services.count_tasks(user)
                    services.delete_task(user, mine.pk)
                    calls[user.pk] += 6
            except Exception as exc:  # noqa: BLE001 - counted as a failure
                errors.append(repr(exc))
            finally:
                connections["default"].close()

        def watch_connections():
            with superuser(cluster) as conn:
                while not stop.is_set():
                    (count,) = conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename = %s",
                        [settings.DATABASE_RUNTIME_ROLE],
                    ).fetchone()
                    peak["connections"] = max(peak["connections"], count)
                    time.sleep(0.05)

        threads = [
            threading.Thread(target=worker, args=(users[n // 2],))
            for n in range(WORKERS)
        ]
        watcher = threading.Thread(target=watch_connections)
        watcher.start()
        for thread in threads:
            thread.start()
        time.sleep(LOAD_SECONDS)
        stop.set()
        for thread in threads:
            thread.join(30)
        watcher.join(5)

        assert errors == []
        # No lost update: each shared task was toggled by two workers at
        # once, and its state is the parity of all their toggles.
        states = {}
        for user in users:
            states.update(
                services.get_tasks(user)
                .filter(pk=shared[user.pk])
                .values_list("owner_id", "completed")
            )
        assert states == {pk: toggles[pk] % 2 == 1 for pk in shared}
        # The main thread's connection also counts towards the pool.
        assert 0 < peak["connections"] <= POOL_SIZE
        total = sum(calls.values())
    with capsys.disabled():
        print(
            f"\n    load: {WORKERS} workers, {LOAD_SECONDS} s, {total:,} service calls "
            f"({total / LOAD_SECONDS:,.0f}/s), peak {peak['connections']} server "
            f"connections (pool {POOL_SIZE}), 0 errors, 0 cross-user rows"
        )
