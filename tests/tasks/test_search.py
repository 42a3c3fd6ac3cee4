"""The admin's title search through the trigram index (tasks/search.py)."""

import importlib
import os
import threading
import time

import psycopg
import pytest
from django.contrib import admin
from django.db import connection, transaction
from django.db.utils import ProgrammingError
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.services import delete_user
from ownership.proofs import proof
from ownership.scope import acting_as, staff_scope
from tasks import admin as task_admin
from tasks import search, services
from tasks.models import Task
from tests.factories import TaskFactory

pytestmark = [pytest.mark.django_db, pytest.mark.postgresql]

CHANGELIST = reverse("admin:tasks_task_changelist")


def found(staff, *words: str) -> set[int]:
    """Ids of the tasks whose title holds every word, as `staff` finds them."""
    with staff_scope(staff):
        return set(search.task_ids_titled(list(words), limit=100, using="default"))


def test_a_title_is_found_by_any_part_of_it_ignoring_case(admin_user, task):
    assert found(admin_user, "MILK") == {task.pk}
    assert found(admin_user, "uy mi") == {task.pk}
    assert found(admin_user, "bread") == set()


def test_every_word_must_be_in_the_title(admin_user, user):
    both = TaskFactory(owner=user, title="Pick up boarding passes tomorrow")
    TaskFactory(owner=user, title="Pick up the parcel tomorrow")

    assert found(admin_user, "passes", "tomorrow") == {both.pk}


def test_like_wildcards_in_a_word_are_plain_characters(admin_user, user):
    percent = TaskFactory(owner=user, title="Save 50% on tickets")
    TaskFactory(owner=user, title="Save 500 on tickets")
    underscore = TaskFactory(owner=user, title="Rename a_b")
    TaskFactory(owner=user, title="Rename axb")
    backslash = TaskFactory(owner=user, title=r"Clean C:\temp")
    TaskFactory(owner=user, title="Clean C:temp")

    assert found(admin_user, "50%") == {percent.pk}
    assert found(admin_user, "a_b") == {underscore.pk}
    assert found(admin_user, "\\temp") == {backslash.pk}


def test_arguments_that_make_no_search_find_nothing(admin_user, task):
    with staff_scope(admin_user), connection.cursor() as cursor:
        for words, max_ids in [
            (None, 10),
            ([], 10),
            (["milk", None], 10),
            (["milk"], None),
            (["milk"], -1),
        ]:
            cursor.execute(
                "SELECT todoproject_tasks_titled(%s::text[], %s)", [words, max_ids]
            )
            assert cursor.fetchall() == [], (words, max_ids)


def test_more_matches_than_the_limit_give_none(admin_user, user):
    TaskFactory.create_batch(3, owner=user, title="Buy milk")

    with staff_scope(admin_user):
        assert search.task_ids_titled(["milk"], limit=2, using="default") is None
        assert len(search.task_ids_titled(["milk"], limit=3, using="default")) == 3


def test_a_task_is_found_by_its_latest_title_only(admin_user, task):
    services.update_task(task.owner, task.pk, title="Buy bread")

    assert found(admin_user, "bread") == {task.pk}
    assert found(admin_user, "milk") == set()


def test_tasks_added_in_bulk_are_found(admin_user, user):
    with acting_as(user):
        added = Task.objects.bulk_create(
            Task(owner=user, title=f"Water plant {n}") for n in range(3)
        )

    assert found(admin_user, "plant") == {task.pk for task in added}


def test_deleted_tasks_and_users_are_no_longer_found(admin_user, task, other_task):
    services.delete_task(task.owner, task.pk)
    delete_user(other_task.owner)

    assert found(admin_user, "milk") == set()
    assert found(admin_user, "secret") == set()


def test_a_task_deleted_and_inserted_again_in_one_statement_is_found(admin_user, task):
    # The delete trigger may run after the insert trigger: it must not take
    # the new copy away.
    with acting_as(task.owner), connection.cursor() as cursor:
        cursor.execute(
            "WITH gone AS (DELETE FROM tasks_task WHERE id = %s RETURNING *), "
            "back AS (INSERT INTO tasks_task (id, title, description, completed, "
            "created_at, updated_at, owner_id) SELECT id, 'Buy oat milk', "
            "description, completed, created_at, updated_at, owner_id FROM gone "
            "RETURNING id) "
            "DELETE FROM tasks_task WHERE id = (SELECT id + 1000000 FROM back)",
            [task.pk],
        )

    assert found(admin_user, "oat milk") == {task.pk}


def test_no_one_but_staff_who_see_every_task_finds_anything(user, task):
    # The owner in their own scope, and no scope at all.
    with acting_as(user):
        assert search.task_ids_titled(["milk"], limit=10, using="default") == []
    assert search.task_ids_titled(["milk"], limit=10, using="default") == []


def test_the_runtime_role_cannot_read_or_write_the_copied_titles(task):
    for statement in (
        "SELECT upper_title FROM tasks_task_search",
        "INSERT INTO tasks_task_search VALUES (1, 'forged')",
        "SELECT todoproject_task_search_empty()",
    ):
        with (
            pytest.raises(ProgrammingError, match="permission denied"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement)


@pytest.mark.django_db(transaction=True)
def test_the_trigram_index_serves_the_search(superuser_cursor, admin_user):
    # auto_explain shows the plan of the query the function runs itself.
    notices = []
    superuser_cursor.connection.add_notice_handler(
        lambda diag: notices.append(diag.message_primary)
    )
    superuser_cursor.execute("BEGIN")
    superuser_cursor.execute(
        "SELECT set_config('todoproject.transaction', "
        "(extract(epoch FROM now()) * 1000000)::bigint::text, true), "
        "set_config('todoproject.user_id', %s, true), "
        "set_config('todoproject.staff', 'on', true), "
        "set_config('todoproject.proof', %s, true)",
        # The staff scope as the application signs it (ownership/proofs.py).
        [str(admin_user.pk), proof(admin_user.pk, "on", 0)],
    )
    superuser_cursor.execute("LOAD 'auto_explain'")
    for name, value in [
        ("auto_explain.log_min_duration", "0"),
        ("auto_explain.log_nested_statements", "on"),
        ("auto_explain.log_level", "notice"),
        # A table this small is read whole otherwise.
        ("enable_seqscan", "off"),
    ]:
        superuser_cursor.execute(f"SET LOCAL {name} = '{value}'")

    superuser_cursor.execute(
        "SELECT todoproject_tasks_titled(ARRAY['milk', 'buy'], 10)"
    )
    superuser_cursor.execute("ROLLBACK")

    (inner,) = [n for n in notices if "Query Text: SELECT task_id FROM" in n]
    assert "Bitmap Index Scan on task_search_upper_title_trgm" in inner


def test_the_copied_titles_belong_to_the_tables_owner():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relowner = t.relowner FROM pg_class c, pg_class t "
            "WHERE c.oid = 'tasks_task_search'::regclass "
            "AND t.oid = 'tasks_task'::regclass"
        )
        assert cursor.fetchone() == (True,)


# The admin ---------------------------------------------------------------

SEARCHES = [
    "milk",
    "MILK",
    "buy milk",
    '"buy milk"',
    "alice",
    "bob@example",
    "alice milk",
    "example",
    "plan secret",
    "50%",
    "no such words",
    "   ",
    "ΛΌΓΟΣ",
    "izmir",
    "STOP",
]


@pytest.fixture
def tasks_to_search(user, other_user):
    TaskFactory(owner=user, title="Buy milk")
    TaskFactory(owner=user, title="Milk the goat, buy hay")
    TaskFactory(owner=user, title="Plan the secret party")
    TaskFactory(owner=other_user, title="Bob's secret plan")
    TaskFactory(owner=other_user, title="Save 50% on milk")
    TaskFactory(owner=other_user, title="Save 500 on bread")
    # Where upper() and lower() disagree: Django compares upper-cased.
    TaskFactory(owner=other_user, title="Ο λόγος")
    TaskFactory(owner=other_user, title="İzmir trip")
    TaskFactory(owner=other_user, title="ſtop here")


def djangos_own_search(staff, term: str) -> list[int]:
    request = RequestFactory().get(CHANGELIST, {"q": term})
    request.user = staff
    with staff_scope(staff):
        found, _ = admin.ModelAdmin.get_search_results(
            admin.site.get_model_admin(Task), request, Task.objects.all(), term
        )
        return sorted(found.values_list("pk", flat=True))


@pytest.mark.parametrize("listed", [10_000, 1], ids=["ids", "too-many-ids"])
def test_staff_find_what_djangos_own_search_finds(
    client, admin_user, tasks_to_search, monkeypatch, listed
):
    # With a limit of one id, most words fall back to LIKE and subqueries.
    monkeypatch.setattr(task_admin, "MAX_LISTED_IDS", listed)
    client.force_login(admin_user)

    for term in SEARCHES:
        response = client.get(CHANGELIST, {"q": term})
        shown = sorted(task.pk for task in response.context["cl"].result_list)
        assert shown == djangos_own_search(admin_user, term), term


def test_a_title_search_reads_no_title_of_tasks_task(
    client, admin_user, tasks_to_search
):
    client.force_login(admin_user)
    with CaptureQueriesContext(connection) as queries:
        client.get(CHANGELIST, {"q": "milk"})

    sql = [q["sql"] for q in queries.captured_queries]
    assert sum("todoproject_tasks_titled" in s for s in sql) == 1
    assert not any("LIKE" in s and "tasks_task" in s for s in sql)


# The copy of the titles written before the triggers (tasks/0007) --------

BACKFILL = importlib.import_module(
    "tasks.migrations.0007_copy_the_titles_written_before"
)


def copied_ids(superuser_cursor) -> set[int]:
    superuser_cursor.execute("SELECT task_id FROM tasks_task_search")
    return {task_id for (task_id,) in superuser_cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_the_backfill_copies_every_task_once(as_owner, superuser_cursor, user):
    tasks = TaskFactory.create_batch(5, owner=user)
    superuser_cursor.execute("DELETE FROM tasks_task_search")

    with connection.schema_editor() as editor:
        BACKFILL.copy_titles(None, editor)
        BACKFILL.copy_titles(None, editor)  # Run again: nothing new.

    assert copied_ids(superuser_cursor) == {task.pk for task in tasks}


@pytest.mark.django_db(transaction=True)
def test_a_task_deleted_during_the_backfill_leaves_no_copy(
    as_owner, superuser_cursor, user
):
    kept, deleted = TaskFactory.create_batch(2, owner=user)
    superuser_cursor.execute("DELETE FROM tasks_task_search")
    url = os.environ["TEST_SUPERUSER_DATABASE_URL"]
    with psycopg.connect(url, dbname=connection.settings_dict["NAME"]) as deleter:
        deleter.execute("DELETE FROM tasks_task WHERE id = %s", [deleted.pk])
        # Uncommitted: the backfill's snapshot still sees the task.
        backfill = threading.Thread(target=run_backfill)
        backfill.start()
        time.sleep(0.5)
        deleter.commit()
    backfill.join(timeout=30)

    assert copied_ids(superuser_cursor) == {kept.pk}


def run_backfill():
    try:
        with connection.schema_editor() as editor:
            BACKFILL.copy_titles(None, editor)
    finally:
        connection.close()
