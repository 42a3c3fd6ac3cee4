"""A task instance never fails silently: it writes in its scope, or says why not."""

import logging

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Exists, OuterRef

from ownership.scope import NotVisible, ScopeConflict, UnscopedQuery, acting_as
from ownership.unscoped import unscoped_on_purpose
from tasks import services
from tasks.models import Task
from tests.factories import TaskFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgresql]


def titles(superuser_cursor):
    superuser_cursor.execute("SELECT title FROM tasks_task ORDER BY title")
    return [title for (title,) in superuser_cursor.fetchall()]


def test_a_task_loaded_in_a_scope_saves_refreshes_and_deletes_in_it(
    user, superuser_cursor
):
    TaskFactory(owner=user, title="before")

    with acting_as(user):
        task = Task.objects.get()
        task.title = "after"
        task.save()
        task.refresh_from_db()
        assert task.title == "after"
    assert titles(superuser_cursor) == ["after"]

    with acting_as(user):
        task.delete()
    assert titles(superuser_cursor) == []


def test_a_task_a_service_returned_keeps_working_after_the_service(
    user, superuser_cursor
):
    task = services.create_task(user, title="made")
    fetched = services.get_task(user, task.pk)
    listed = list(services.get_tasks(user).iterator(chunk_size=1))

    fetched.title = "renamed"
    fetched.save()
    listed[0].refresh_from_db()
    assert listed[0].title == "renamed"
    task.refresh_from_db()
    task.delete()

    assert titles(superuser_cursor) == []


def test_saving_a_task_no_scope_shows_is_an_error_naming_it(user, superuser_cursor):
    TaskFactory(owner=user, title="kept")
    with acting_as(user):
        task = Task.objects.get()
    task._ownership_scope = None  # As if loaded where no scope was remembered.
    task.title = "lost"

    with pytest.raises(Task.DoesNotExist) as raised:
        task.save()

    assert str(raised.value) == (
        f"task {task.pk} is not visible in the current scope: nobody"
    )
    assert isinstance(raised.value, NotVisible)
    assert titles(superuser_cursor) == ["kept"]


def test_another_users_task_is_never_inserted_again_nor_deleted_silently(
    user, other_user, superuser_cursor
):
    theirs = TaskFactory(owner=other_user, title="theirs")
    with acting_as(other_user):
        theirs = Task.objects.get()
    theirs.title = "hijacked"

    with acting_as(user), pytest.raises(ScopeConflict, match="cannot write"):
        theirs.save()
    with acting_as(user), pytest.raises(Task.DoesNotExist, match="not visible"):
        theirs.delete()
    with acting_as(user), pytest.raises(Task.DoesNotExist, match="not visible"):
        theirs.refresh_from_db()

    assert titles(superuser_cursor) == ["theirs"]


def test_a_new_task_of_another_user_is_refused_before_any_sql(user, other_user):
    with (
        acting_as(user),
        pytest.raises(ScopeConflict, match="user"),
        django_queries(0),
    ):
        Task(owner=other_user, title="planted").save()


def test_a_new_task_with_no_scope_is_refused_before_any_sql(user):
    with pytest.raises(UnscopedQuery, match="no scope"), django_queries(0):
        Task(owner=user, title="floating").save()


class django_queries:
    """Assert how many statements the block sends."""

    def __init__(self, expected):
        from django.test.utils import CaptureQueriesContext

        self.expected = expected
        self.capture = CaptureQueriesContext(connection)

    def __enter__(self):
        self.capture.__enter__()

    def __exit__(self, *exc_info):
        self.capture.__exit__(*exc_info)
        assert len(self.capture) == self.expected


def test_a_read_with_no_scope_warns_once_per_shell_session(user, settings, caplog):
    import ownership.unscoped

    settings.UNSCOPED_QUERIES = "warn"
    TaskFactory(owner=user)
    ownership.unscoped._warned_outside_requests = False

    with caplog.at_level(logging.WARNING, logger="ownership.unscoped"):
        assert Task.objects.count() == 0
        assert not Task.objects.filter(pk=1).exists()

    assert [r.getMessage() for r in caplog.records] == [
        "a query of tasks ran with no scope in force, and row-level security "
        "shows it no row: use the services, Model.objects.for_owner(user) or "
        "acting_as(user)"
    ]


def test_a_read_with_no_scope_is_an_error_when_set(user, settings):
    settings.UNSCOPED_QUERIES = "error"

    with pytest.raises(UnscopedQuery):
        list(user.tasks.all())


def test_unbound_writes_and_raw_reads_with_no_scope_are_errors_when_set(user, settings):
    settings.UNSCOPED_QUERIES = "error"
    TaskFactory(owner=user)

    with pytest.raises(UnscopedQuery):
        Task.objects.filter(owner=user).update(title="lost")
    with pytest.raises(UnscopedQuery):
        Task.objects.all().delete()
    with pytest.raises(UnscopedQuery):
        list(Task.objects.raw("SELECT * FROM tasks_task"))
    with acting_as(user):
        assert Task.objects.filter(owner=user).update(completed=True) == 1


def test_other_reads_of_tasks_with_no_scope_are_errors_when_set(user, settings):
    # Not through the task queryset: the statement wrapper finds the table.
    settings.UNSCOPED_QUERIES = "error"
    TaskFactory(owner=user)
    users = get_user_model().objects.filter(pk=user.pk)

    with pytest.raises(UnscopedQuery):
        list(users.annotate(count=Count("tasks")))
    with pytest.raises(UnscopedQuery):
        list(users.filter(Exists(Task.objects.filter(owner=OuterRef("pk")))))
    with pytest.raises(UnscopedQuery), connection.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM "tasks_task"')
    with acting_as(user):
        assert [u.count for u in users.annotate(count=Count("tasks"))] == [1]


def test_a_read_meant_to_run_with_no_scope_says_so(user, settings):
    settings.UNSCOPED_QUERIES = "error"
    TaskFactory(owner=user)

    with unscoped_on_purpose(), connection.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM "tasks_task"')
        assert cursor.fetchone() == (0,)
    with pytest.raises(UnscopedQuery), connection.cursor() as cursor:
        cursor.execute('SELECT count(*) FROM "tasks_task"')
