"""Reads routed to a real hot standby, and never staler than one's own writes.

A throwaway primary of this module's own, migrated by its owner, and a
streaming standby of it made with pg_basebackup are the application's
``default`` and ``replica_1`` databases, both as the runtime role. Routing
is observed by what the standby has and has not replayed: replay is paused
with ``pg_wal_replay_pause()``, and rows written on the primary behind the
application's back show which server answered.

Every test runs twice: with ``default`` reaching the primary directly, and
through a PgBouncer in transaction mode in front of it (``make test``'s
configuration, ``ops/pgbouncer/pgbouncer.ini``), as on Neon's pooled
endpoint. The standby and the tests' own connections behind the
application's back stay direct.
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import NamedTuple

import psycopg
import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connections, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from accounts.models import User
from ownership.middleware import ActingUserMiddleware
from ownership.scope import ScopeConflict
from replicas import router
from tasks import services
from tasks.models import Task
from tests.pgbouncer import pgbouncer_in_front
from tests.standbys import DATABASE, caught_up, migrated_primary, settings_for
from tests.utils import connect, default_database

pytestmark = pytest.mark.postgresql


@pytest.fixture(scope="module")
def primary(django_db_blocker):
    with migrated_primary(django_db_blocker) as cluster:
        yield cluster


@pytest.fixture(scope="module")
def standby(primary):
    with primary.standby() as standby:
        yield standby


class Way(NamedTuple):
    """How the application's ``default`` alias reaches the primary."""

    through_pgbouncer: bool
    settings: dict


@pytest.fixture(scope="module", params=["direct", "pgbouncer"])
def way_to_primary(request, primary):
    """The primary as the runtime role, directly or through PgBouncer."""
    direct = settings_for(primary)
    if request.param == "direct":
        yield Way(through_pgbouncer=False, settings=direct)
        return
    with pgbouncer_in_front(primary, {direct["USER"]: direct["PASSWORD"]}) as port:
        yield Way(
            through_pgbouncer=True,
            # A server-side cursor would not outlive its transaction's
            # server connection (todoproject/settings.py).
            settings={
                **settings_for(primary, port=port),
                "DISABLE_SERVER_SIDE_CURSORS": True,
            },
        )


@contextmanager
def replica_alias(settings_dict):
    connections.settings["replica_1"] = settings_dict
    try:
        yield
    finally:
        connections["replica_1"].close()
        del connections["replica_1"]
        del connections.settings["replica_1"]


@pytest.fixture
def routed(way_to_primary, primary, standby, django_db_blocker, settings, monkeypatch):
    """The primary as default, the standby as replica_1, routing on.

    ``default`` reaches the primary directly or through PgBouncer
    (``way_to_primary``). Each test starts with no task, so that none
    depends on the titles another one left, in either way.
    """
    with psycopg.connect(primary.url(DATABASE), autocommit=True) as conn:
        conn.execute("DELETE FROM tasks_task")
    settings.DATABASE_REPLICAS = ["replica_1"]
    settings.DATABASE_ROUTERS = ["replicas.router.ReplicaRouter"]
    monkeypatch.setattr(router, "REPLAY_CHECK_SECONDS", 0)
    monkeypatch.setattr(router, "_state", {})
    cache.clear()
    with (
        django_db_blocker.unblock(),
        default_database(way_to_primary.settings),
        replica_alias(settings_for(standby)),
    ):
        alice = User.objects.get(username="alice")
        bob = User.objects.get(username="bob")
        yield alice, bob
    resume(standby)


def pause(standby):
    with psycopg.connect(standby.url(DATABASE), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")


def resume(standby):
    with psycopg.connect(standby.url(DATABASE), autocommit=True) as conn:
        conn.execute("SELECT pg_wal_replay_resume()")


def behind_the_back(primary, owner, title):
    """Add a task on the primary that no service call knows of."""
    with psycopg.connect(primary.url(DATABASE), autocommit=True) as conn:
        conn.execute(
            "INSERT INTO tasks_task (title, description, completed, created_at, "
            "updated_at, owner_id) VALUES (%s, '', false, now(), now(), %s)",
            [title, owner.pk],
        )


def titles(owner):
    return {task.title for task in services.get_tasks(owner)}


def test_the_primary_is_reached_directly_or_through_pgbouncer(routed, way_to_primary):
    # PgBouncer in transaction mode, with one server connection per pool,
    # hands one backend to two clients that are connected at once;
    # directly, each client has a backend of its own.
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (ours,) = cursor.fetchone()
    with connect(way_to_primary.settings) as other:
        (theirs,) = other.execute("SELECT pg_backend_pid()").fetchone()

    assert (ours == theirs) == way_to_primary.through_pgbouncer


def test_a_user_who_wrote_nothing_reads_from_the_standby(routed, primary, standby):
    _, bob = routed
    behind_the_back(primary, bob, "replayed")
    caught_up(primary, standby)
    pause(standby)

    behind_the_back(primary, bob, "only on the primary")

    seen = titles(bob)
    assert "replayed" in seen
    assert "only on the primary" not in seen
    with transaction.atomic():
        # Reads inside a transaction go to the primary.
        assert "only on the primary" in titles(bob)


def test_a_writer_always_reads_their_own_write(routed, primary, standby):
    alice, bob = routed
    caught_up(primary, standby)
    pause(standby)
    behind_the_back(primary, bob, "bob's, unreplayed")

    created = services.create_task(alice, title="written while replay is paused")
    renamed = services.update_task(alice, created.pk, title="renamed, still paused")

    assert "renamed, still paused" in titles(alice)
    assert services.get_task(alice, created.pk) == renamed
    assert services.count_tasks(alice).open >= 1
    # Another user's reads still come from the standby.
    assert "bob's, unreplayed" not in titles(bob)


def test_once_replayed_the_writers_reads_go_back_to_the_standby(
    routed, primary, standby
):
    alice, _ = routed
    services.create_task(alice, title="to be replayed")
    caught_up(primary, standby)
    pause(standby)

    behind_the_back(primary, alice, "alice's, behind the back")

    assert "to be replayed" in titles(alice)
    assert "alice's, behind the back" not in titles(alice)


def test_a_stopped_standby_costs_no_error_and_one_warning(
    routed, primary, standby, caplog
):
    alice, _ = routed
    caplog.set_level(logging.WARNING, logger="replicas.router")
    standby.stop()
    try:
        started = time.monotonic()
        first = titles(alice)
        second = titles(alice)
        took = time.monotonic() - started
    finally:
        standby.start()

    assert first == second
    assert took < 3
    warnings = [r for r in caplog.records if r.name == "replicas.router"]
    assert len(warnings) == 1
    assert "replica_1 left out" in warnings[0].getMessage()


def test_a_standby_that_comes_back_is_used_again(routed, primary, standby, monkeypatch):
    alice, _ = routed
    monkeypatch.setattr(router, "RETRY_SECONDS", 0)
    standby.stop()
    try:
        titles(alice)  # Left out, read from the primary.
    finally:
        standby.start()
    behind_the_back(primary, alice, "before the comeback")
    caught_up(primary, standby)
    pause(standby)

    behind_the_back(primary, alice, "after the comeback")

    seen = titles(alice)
    assert "before the comeback" in seen  # The standby answers...
    assert "after the comeback" not in seen  # ...with what it has replayed.


def test_another_users_read_inside_a_request_is_refused_on_the_standby(routed):
    alice, bob = routed
    request = RequestFactory().get("/")
    request.user = alice

    def view(request):
        with pytest.raises(ScopeConflict):
            titles(bob)
        return HttpResponse(len(titles(alice)))

    assert ActingUserMiddleware(view)(request).status_code == 200


def healthcheck_json() -> dict:
    import json
    from io import StringIO

    out = StringIO()
    call_command("healthcheck", "--json", "--timeout", "2", stdout=out)
    return json.loads(out.getvalue())


def test_the_health_check_reports_each_replica(routed, primary, standby):
    caught_up(primary, standby)

    replicas = healthcheck_json()["replicas"]

    assert [
        (r["alias"], r["status"], r["reachable"], r["replaying"]) for r in replicas
    ] == [("replica_1", "ok", True, True)]
    assert replicas[0]["lag_bytes"] == 0
    assert replicas[0]["lag_seconds"] == 0


def test_a_stopped_replica_is_a_warning_not_a_failure(routed, standby):
    standby.stop()
    try:
        report = healthcheck_json()
    finally:
        standby.start()

    assert (report["status"], report["healthy"], report["exit_code"]) == (
        "warn",
        True,
        0,
    )
    (replica,) = report["replicas"]
    assert (replica["status"], replica["reachable"]) == ("fail", False)
    assert replica["detail"].startswith("unreachable: ")


def test_a_read_costs_no_extra_round_trip_once_the_position_is_known(
    routed, primary, standby, monkeypatch
):
    from django.test.utils import CaptureQueriesContext

    _, bob = routed
    monkeypatch.setattr(router, "REPLAY_CHECK_SECONDS", 60)
    caught_up(primary, standby)
    titles(bob)  # Asks the replica where it stands, once.

    with (
        CaptureQueriesContext(connections["replica_1"]) as on_replica,
        CaptureQueriesContext(connections["default"]) as on_primary,
    ):
        for _ in range(3):
            titles(bob)

    assert len(on_replica.captured_queries) == 3
    assert on_primary.captured_queries == []


def test_a_replica_lagging_past_the_limit_is_left_out(
    routed, primary, standby, settings, caplog
):
    alice, _ = routed
    settings.DATABASE_REPLICA_MAX_LAG = 1
    caplog.set_level(logging.WARNING, logger="replicas.router")
    caught_up(primary, standby)
    pause(standby)
    # Received but not replayed, for longer than the limit.
    behind_the_back(primary, alice, "written during the lag")
    time.sleep(1.5)

    seen = titles(alice)

    assert "written during the lag" in seen  # Read from the primary.
    assert any("behind the primary" in r.getMessage() for r in caplog.records)


def test_locked_reads_and_reads_in_a_transaction_use_the_primary(
    routed, primary, standby
):
    _, bob = routed
    caught_up(primary, standby)
    pause(standby)
    behind_the_back(primary, bob, "bob's, on the primary only")

    with transaction.atomic():
        locked = {task.title for task in services.get_tasks(bob).select_for_update()}

    assert "bob's, on the primary only" in locked


def test_healthz_reports_the_replica_without_naming_hosts(
    routed, primary, standby, monkeypatch
):
    from django.test import Client

    caught_up(primary, standby)
    monkeypatch.setattr("operations.views._last", None)  # A fresh check.

    response = Client().get("/healthz")

    (replica,) = response.json()["replicas"]
    assert replica["alias"] == "replica_1"
    assert replica["status"] == "ok"
    assert "detail" not in replica
    assert str(standby.port) not in response.content.decode()


class StandbyRouter:
    """A project's own router: every task read goes to the standby."""

    def db_for_read(self, model, **hints):
        return "replica_1" if model is Task else None


def test_a_bound_queryset_read_with_using_acts_as_its_owner_there(
    routed, primary, standby
):
    alice, _ = routed
    services.create_task(alice, title="on both")
    caught_up(primary, standby)
    pause(standby)
    services.create_task(alice, title="on the primary only")

    # A writer's reads would go to the primary; using() names the standby.
    on_standby = services.get_tasks(alice).using("replica_1")

    assert [task.title for task in on_standby] == ["on both"]
    assert on_standby.count() == 1
    assert [t.title for t in on_standby.iterator(chunk_size=1)] == ["on both"]


def test_a_bound_queryset_routed_by_another_router_acts_as_its_owner_there(
    routed, primary, standby, settings
):
    alice, _ = routed
    services.create_task(alice, title="on both")
    caught_up(primary, standby)
    pause(standby)
    services.create_task(alice, title="on the primary only")
    settings.DATABASE_ROUTERS = [f"{__name__}.StandbyRouter"]

    tasks = services.get_tasks(alice)

    assert tasks.db == "replica_1"
    assert [task.title for task in tasks] == ["on both"]
    assert services.count_tasks(alice).open == 1


def test_openmetrics_reports_the_replica_by_its_alias(
    routed, primary, standby, monkeypatch
):
    from django.test import Client
    from prometheus_client.openmetrics.parser import text_string_to_metric_families

    caught_up(primary, standby)
    monkeypatch.setattr("operations.views._last", None)  # A fresh check.

    response = Client().get("/healthz?format=openmetrics")

    text = response.content.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    status = {
        sample.labels["status"]: sample.value
        for sample in families["todoproject_health_replica_status"].samples
        if sample.labels["replica"] == "replica_1"
    }
    assert status == {"ok": 1.0, "warn": 0.0, "fail": 0.0}
    (lag,) = families["todoproject_health_replica_lag_seconds"].samples
    assert (lag.labels, lag.value) == ({"replica": "replica_1"}, 0.0)
    (lag_bytes,) = families["todoproject_health_replica_lag_bytes"].samples
    assert lag_bytes.value == 0
    assert str(standby.port) not in text
