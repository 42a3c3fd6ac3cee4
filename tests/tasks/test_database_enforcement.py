"""PostgreSQL itself keeps users apart, even for direct SQL.

These tests run as the plain runtime role that `make test` creates (no
SUPERUSER, no BYPASSRLS); as a superuser every policy would be skipped and
they would prove nothing, which is why the first test checks the role.
"""

import json
import os
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from ownership.middleware import ActingUserMiddleware
from ownership.scope import acting_as, as_system, current_scope, system_scope
from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.utils import connect, stored_tasks

pytestmark = [pytest.mark.postgresql, pytest.mark.isolation]

TABLE = Task._meta.db_table


def raw(sql, params=()):
    """Run `sql` on the application's connection; return (rows, rowcount)."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else None
        return rows, cursor.rowcount


@pytest.fixture
def alice_and_bob():
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    TaskFactory.create_batch(2, owner=alice)
    bobs = TaskFactory.create_batch(3, owner=bob)
    return alice, bob, bobs


@pytest.mark.django_db
def test_runtime_role_is_plain_and_owns_nothing():
    (row,), _ = raw(
        "SELECT r.rolsuper, r.rolbypassrls, r.rolcanlogin, r.rolcreatedb, "
        "       r.rolcreaterole, pg_has_role(current_user, c.relowner, 'MEMBER') "
        "FROM pg_roles r, pg_class c "
        "WHERE r.rolname = current_user AND c.oid = %s::regclass",
        [TABLE],
    )

    superuser, bypassrls, login, createdb, createrole, owner = row
    assert (superuser, bypassrls, login, createdb, createrole) == (
        False,
        False,
        True,
        False,
        False,
    )
    assert owner is False
    owned, _ = raw(
        "SELECT count(*) FROM pg_class WHERE relowner = "
        "(SELECT oid FROM pg_roles WHERE rolname = current_user)"
    )
    assert owned == [(0,)]


@pytest.mark.django_db
def test_row_level_security_is_enabled_and_forced():
    (row,), _ = raw(
        "SELECT relrowsecurity, relforcerowsecurity FROM pg_class "
        "WHERE oid = %s::regclass",
        [TABLE],
    )

    assert row == (True, True)


@pytest.mark.django_db
def test_owner_foreign_key_cascades_in_the_database():
    rows, _ = raw(
        "SELECT confdeltype, condeferrable, condeferred FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f'",
        [TABLE],
    )

    assert rows == [("c", True, True)]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("unscoped_queries_allowed")
def test_without_an_acting_user_nothing_is_visible_or_writable(
    alice_and_bob, superuser_cursor
):
    assert raw(f"SELECT id FROM {TABLE}")[0] == []
    assert raw(f"UPDATE {TABLE} SET title = 'hacked'")[1] == 0
    assert raw(f"DELETE FROM {TABLE}")[1] == 0
    assert Task.objects.count() == 0

    superuser_cursor.execute(f"SELECT count(*) FROM {TABLE} WHERE title <> 'hacked'")
    assert superuser_cursor.fetchone() == (5,)


@pytest.mark.django_db(transaction=True)
def test_acting_user_reaches_only_their_own_rows(alice_and_bob, superuser_cursor):
    alice, bob, bobs = alice_and_bob
    bob_ids = [task.pk for task in bobs]

    with acting_as(alice):
        visible, _ = raw(f"SELECT owner_id FROM {TABLE}")
        targeted, _ = raw(f"SELECT id FROM {TABLE} WHERE id = ANY(%s)", [bob_ids])
        updated = raw(f"UPDATE {TABLE} SET title = 'x' WHERE id = ANY(%s)", [bob_ids])
        deleted = raw(f"DELETE FROM {TABLE} WHERE id = ANY(%s)", [bob_ids])

    assert {owner for (owner,) in visible} == {alice.pk}
    assert targeted == []
    assert (updated[1], deleted[1]) == (0, 0)
    superuser_cursor.execute(
        f"SELECT count(*) FROM {TABLE} WHERE owner_id = %s AND title <> 'x'",
        [bob.pk],
    )
    assert superuser_cursor.fetchone() == (3,)


@pytest.mark.django_db(transaction=True)
def test_inserting_a_task_for_someone_else_is_refused(alice_and_bob):
    alice, bob, _ = alice_and_bob

    with pytest.raises(DatabaseError, match="row-level security"), acting_as(alice):
        raw(
            f"INSERT INTO {TABLE} (title, description, completed, created_at, "
            "updated_at, owner_id) VALUES ('planted', '', false, now(), now(), %s)",
            [bob.pk],
        )

    assert stored_tasks(title="planted") == []


@pytest.mark.django_db(transaction=True)
def test_reassigning_a_task_to_someone_else_is_refused(alice_and_bob):
    alice, bob, _ = alice_and_bob
    task = stored_tasks(owner=alice)[0]

    with pytest.raises(DatabaseError, match="row-level security"), acting_as(alice):
        raw(f"UPDATE {TABLE} SET owner_id = %s WHERE id = %s", [bob.pk, task.pk])

    assert stored_tasks(owner=alice)[0].owner_id == alice.pk


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("title", "description", "constraint"),
    [
        ("\u3164", "", "task_title_not_blank"),
        ("\u200b\ufe0f\u2800 \U000e0100", "", "task_title_not_blank"),
        ("Long", "x" * 10_001, "task_description_max_length"),
    ],
    ids=["hangul-filler", "invisible-mix", "long-description"],
)
def test_the_runtime_roles_own_sql_meets_the_text_checks(
    alice_and_bob, title, description, constraint
):
    alice, _, _ = alice_and_bob

    with pytest.raises(DatabaseError, match=constraint), acting_as(alice):
        raw(
            f"INSERT INTO {TABLE} (title, description, completed, created_at, "
            "updated_at, owner_id) VALUES (%s, %s, false, now(), now(), %s)",
            [title, description, alice.pk],
        )
    with pytest.raises(DatabaseError, match=constraint), acting_as(alice):
        raw(
            f"UPDATE {TABLE} SET title = %s, description = %s",
            [title, description],
        )

    assert len(stored_tasks(owner=alice)) == 2
    assert stored_tasks(title=title) == []


@pytest.mark.django_db(transaction=True)
def test_acting_user_does_not_outlive_its_transaction(alice_and_bob):
    alice, _, _ = alice_and_bob

    with acting_as(alice):
        pid_inside = raw("SELECT pg_backend_pid()")[0][0][0]
        assert len(raw(f"SELECT id FROM {TABLE}")[0]) == 2

    # Same connection, next transaction: nothing carried over.
    with transaction.atomic():
        (row,), _ = raw(
            "SELECT pg_backend_pid(), current_setting('todoproject.user_id', true), "
            "current_setting('todoproject.system', true)"
        )
        assert raw(f"SELECT id FROM {TABLE}")[0] == []
    pid, user_setting, system_setting = row
    assert pid == pid_inside
    assert (user_setting or "", system_setting or "") == ("", "")


@pytest.mark.django_db(transaction=True)
def test_next_client_of_the_server_connection_inherits_no_acting_user(alice_and_bob):
    alice, _, _ = alice_and_bob
    with acting_as(alice):
        pid = raw("SELECT pg_backend_pid()")[0][0][0]
        assert len(raw(f"SELECT id FROM {TABLE}")[0]) == 2

    with (
        connect(connection.settings_dict) as other_client,
        other_client.transaction(),
    ):
        row = other_client.execute(
            "SELECT pg_backend_pid(), "
            "coalesce(current_setting('todoproject.user_id', true), ''), "
            "coalesce(current_setting('todoproject.system', true), ''), "
            f"(SELECT count(*) FROM {TABLE})"
        ).fetchone()

    if os.environ.get("TEST_THROUGH_PGBOUNCER"):
        # One server connection in the pool: the other client got the very
        # backend that acted for alice a moment ago.
        assert row[0] == pid
    assert row[1:] == ("", "", 0)


@pytest.mark.django_db(transaction=True)
def test_plain_sql_delete_of_a_user_cascades_to_their_tasks(
    alice_and_bob, superuser_cursor
):
    alice, bob, _ = alice_and_bob

    # Bob's own scope lets his row go (ownership/guards.py); the cascade
    # that takes his tasks along is the database's, not Django's.
    with acting_as(bob):
        raw("DELETE FROM accounts_user WHERE id = %s", [bob.pk])

    superuser_cursor.execute(
        f"SELECT owner_id, count(*) FROM {TABLE} GROUP BY owner_id"
    )
    assert superuser_cursor.fetchall() == [(alice.pk, 2)]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("unscoped_queries_allowed")
def test_scopes_nest_and_restore_the_outer_one(as_owner, user, other_user):
    TaskFactory(owner=user)
    TaskFactory(owner=other_user)

    with acting_as(user):
        assert Task.objects.count() == 1
        with system_scope():
            assert str(current_scope()) == "system"
            assert Task.objects.count() == 2
        assert Task.objects.count() == 1
        assert current_scope().user_id == user.pk
    assert Task.objects.count() == 0
    assert str(current_scope()) == "nobody"


@pytest.mark.django_db
@pytest.mark.usefixtures("unscoped_queries_allowed")
def test_an_error_inside_a_scope_rolls_it_back(user):
    TaskFactory(owner=user)

    with pytest.raises(ZeroDivisionError), acting_as(user):
        1 / 0  # noqa: B018

    assert Task.objects.count() == 0


@pytest.mark.django_db
def test_acting_as_needs_a_saved_user():
    from accounts.models import User

    with pytest.raises(ValueError, match="saved user"):
        acting_as(User(username="ghost"))


@pytest.mark.django_db(transaction=True)
def test_data_migration_function_runs_in_the_system_scope(as_owner, alice_and_bob):
    seen = []

    @as_system
    def forwards(apps, schema_editor):
        seen.append(apps.get_model("tasks", "Task").objects.count())

    with connection.schema_editor() as schema_editor:
        from django.apps import apps

        forwards(apps, schema_editor)

    assert seen == [5]


@pytest.mark.django_db(transaction=True)
def test_dumpdata_returns_every_task_and_loaddata_restores_them(
    as_owner, alice_and_bob, tmp_path
):
    out = StringIO()
    call_command("dumpdata", "tasks", format="json", stdout=out)
    dumped = json.loads(out.getvalue())
    assert len(dumped) == 5

    with system_scope():
        Task.objects.all().delete()
    fixture = tmp_path / "tasks.json"
    fixture.write_text(out.getvalue())
    call_command("loaddata", str(fixture), verbosity=0)

    assert len(stored_tasks()) == 5


@pytest.mark.django_db
@pytest.mark.usefixtures("unscoped_queries_allowed")
def test_middleware_binds_the_logged_in_user(alice_and_bob, admin_user):
    alice, _, _ = alice_and_bob
    middleware = ActingUserMiddleware(
        lambda request: HttpResponse(Task.objects.count())
    )

    def count_as(user, path="/"):
        request = RequestFactory().get(path)
        request.user = user
        return int(middleware(request).content)

    from django.contrib.auth.models import AnonymousUser

    assert count_as(alice) == 2
    assert count_as(AnonymousUser()) == 0
    # Staff with the task permission see everything, but only in the admin.
    assert count_as(admin_user, "/admin/tasks/task/") == 5
    assert count_as(admin_user, "/") == 0


@pytest.mark.django_db(transaction=True)
def test_statement_scope_carries_the_user_in_each_statement_only(alice_and_bob):
    alice, _, _ = alice_and_bob

    with acting_as(alice, atomic=False):
        assert not connection.in_atomic_block
        first, _ = raw(f"SELECT owner_id FROM {TABLE}")
        second, _ = raw(f"SELECT owner_id FROM {TABLE}")
        server_side = list(Task.objects.values_list("owner_id", flat=True).iterator(2))

    assert {owner for (owner,) in first + second} == {alice.pk}
    assert len(first) == len(second) == 2
    assert set(server_side) == {alice.pk}
    # The setting ended with each statement's implicit transaction.
    assert raw(f"SELECT id FROM {TABLE}")[0] == []


@pytest.mark.django_db(transaction=True)
def test_statement_scope_covers_executemany(alice_and_bob):
    alice, bob, bobs = alice_and_bob
    ids = [[task.pk] for task in stored_tasks()]

    with acting_as(alice, atomic=False), connection.cursor() as cursor:
        cursor.executemany(f"UPDATE {TABLE} SET title = 'renamed' WHERE id = %s", ids)

    renamed = {task.owner_id for task in stored_tasks(title="renamed")}
    assert renamed == {alice.pk}


@pytest.mark.django_db(transaction=True)
def test_services_outside_a_transaction_do_not_reach_other_users(alice_and_bob):
    from tasks import services

    alice, bob, bobs = alice_and_bob
    target = bobs[0].pk
    before = [(t.pk, t.title, t.completed) for t in stored_tasks(owner=bob)]

    for call in (
        lambda: services.get_task(alice, target),
        lambda: services.update_task(alice, target, title="mine"),
        lambda: services.toggle_complete(alice, target),
        lambda: services.delete_task(alice, target),
    ):
        with pytest.raises(Task.DoesNotExist):
            call()

    assert [(t.pk, t.title, t.completed) for t in stored_tasks(owner=bob)] == before
    assert {t.owner_id for t in services.get_tasks(alice)} == {alice.pk}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("unscoped_queries_allowed")
def test_a_paused_iterator_leaves_no_scope_behind(alice_and_bob):
    from tasks import services

    alice, _, _ = alice_and_bob
    rows = services.get_tasks(alice).iterator(chunk_size=1)

    first = next(rows)

    assert first.owner_id == alice.pk
    assert str(current_scope()) == "nobody"
    assert Task.objects.count() == 0
    assert [task.owner_id for task in rows] == [alice.pk]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("unscoped_queries_allowed")
def test_middleware_scopes_each_statement_outside_a_transaction(alice_and_bob):
    alice, _, _ = alice_and_bob

    def view(request):
        assert not connection.in_atomic_block
        return HttpResponse(f"{Task.objects.count()} {Task.objects.count()}")

    request = RequestFactory().get("/")
    request.user = alice

    assert ActingUserMiddleware(view)(request).content == b"2 2"
    assert Task.objects.count() == 0
