"""Scopes cannot be swapped, and bound reads are never cut short."""

from contextlib import nullcontext

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection, transaction
from django.http import HttpResponse
from django.test import RequestFactory

from ownership.middleware import ActingUserMiddleware
from ownership.scope import (
    ScopeConflict,
    acting_as,
    current_scope,
    staff_scope,
    system_scope,
)
from tasks import services
from tasks.models import Task
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


def in_request_of(user, view):
    """Run `view` inside a request of `user`, through the middleware."""
    request = RequestFactory().get("/tasks/")
    request.user = user
    return ActingUserMiddleware(view)(request)


@pytest.mark.parametrize(
    "read",
    [
        lambda owner: services.get_tasks(owner).count(),
        lambda owner: list(services.get_tasks(owner)),
        lambda owner: services.get_task(owner, 1),
        lambda owner: services.count_tasks(owner),
        lambda owner: services.toggle_complete(owner, 1),
        lambda owner: Task.objects.for_owner(owner).count(),
        lambda owner: list(Task.objects.for_owner(owner).iterator()),
    ],
)
def test_reading_another_users_tasks_inside_a_request_is_refused(
    user, other_user, read
):
    TaskFactory(owner=other_user, title="Bob's secret plan")
    seen = []

    def view(request):
        with pytest.raises(ScopeConflict) as refused:
            seen.append(read(other_user))
        return HttpResponse(str(refused.value))

    message = in_request_of(user, view).content.decode()

    assert seen == []
    assert f"user {other_user.pk} (bob)" in message
    assert f"user {user.pk} (alice)" in message


@pytest.mark.postgresql
def test_a_refused_scope_sends_nothing_to_the_database(
    user, other_user, django_assert_num_queries
):
    def view(request):
        with django_assert_num_queries(0), pytest.raises(ScopeConflict):
            services.get_tasks(other_user).exists()
        return HttpResponse()

    in_request_of(user, view)


def test_the_same_user_nested_and_trusted_scopes_keep_working(user, other_user):
    TaskFactory(owner=user)
    TaskFactory(owner=other_user)

    def view(request):
        with system_scope(), acting_as(user):
            assert services.count_tasks(user) == (1, 0)
        with acting_as(user), acting_as(user):
            assert services.count_tasks(user) == (1, 0)
        assert current_scope().user_id == user.pk
        return HttpResponse(services.get_tasks(user).count())

    assert in_request_of(user, view).content == b"1"
    # Outside any user's scope, trusted code may act for anyone in turn.
    with system_scope(), acting_as(other_user):
        assert services.count_tasks(other_user) == (1, 0)


def test_anonymous_requests_may_use_services_of_one_user(user):
    TaskFactory(owner=user)

    def view(request):
        return HttpResponse(services.get_tasks(user).count())

    assert in_request_of(AnonymousUser(), view).content == b"1"


@pytest.fixture
def many_tasks(user, other_user):
    """4,500 tasks of `user` (and some of another user's)."""
    with acting_as(user):
        Task.objects.bulk_create(
            Task(owner=user, title=f"Task {n}") for n in range(4500)
        )
    TaskFactory.create_batch(3, owner=other_user)
    return 4500


@pytest.mark.parametrize("atomic", [False, True], ids=["autocommit", "in atomic"])
@pytest.mark.parametrize("chunk_size", [None, 100])
@pytest.mark.parametrize(
    "shape",
    [
        lambda tasks: tasks,
        lambda tasks: tasks.values("id"),
        lambda tasks: tasks.values_list("id", flat=True),
    ],
    ids=["models", "values", "values_list"],
)
@pytest.mark.django_db(transaction=True)
@pytest.mark.isolation
def test_a_bound_iterator_returns_every_row(
    user, many_tasks, atomic, chunk_size, shape
):
    tasks = shape(services.get_tasks(user))

    with transaction.atomic() if atomic else nullcontext():
        rows = list(tasks.iterator(chunk_size=chunk_size))
        if atomic:
            # The scope ended with the iteration.
            assert str(current_scope()) == "nobody"

    assert len(rows) == many_tasks


@pytest.mark.django_db(transaction=True)
@pytest.mark.isolation
def test_leaving_an_iteration_early_keeps_what_was_written_meanwhile(user, many_tasks):
    with transaction.atomic():
        for task in services.get_tasks(user).iterator(chunk_size=100):
            services.update_task(user, task.pk, title="Renamed in the loop")
            break
        assert not transaction.get_rollback()

    assert services.get_tasks(user).filter(title="Renamed in the loop").count() == 1


def test_a_system_scope_inside_a_request_makes_no_room_for_another_user(
    user, other_user
):
    def view(request):
        with system_scope(), pytest.raises(ScopeConflict):
            services.get_tasks(other_user).count()
        return HttpResponse()

    in_request_of(user, view)


def test_the_staff_scope_is_only_for_staff_who_may_see_tasks(user, other_user):
    with pytest.raises(PermissionError, match="staff_scope"):
        staff_scope(user)

    def view(request):
        with pytest.raises(PermissionError):
            staff_scope(request.user)
        with pytest.raises(ScopeConflict):
            services.get_tasks(other_user).count()
        return HttpResponse()

    in_request_of(user, view)


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgresql
@pytest.mark.isolation
def test_an_iteration_left_unfinished_leaves_no_scope_behind(user, other_user):
    TaskFactory.create_batch(3, owner=user)
    TaskFactory(owner=other_user)

    with transaction.atomic():
        unfinished = services.get_tasks(user).iterator(chunk_size=1)
        next(unfinished)
    # The generator is still referenced; its transaction is over.

    def view(request):
        return HttpResponse(services.count_tasks(other_user).open)

    assert in_request_of(other_user, view).content == b"1"
    with transaction.atomic(), acting_as(user):
        assert Task.objects.count() == 3
    assert str(current_scope()) == "nobody"
    unfinished.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgresql
def test_a_scope_ends_with_its_block_when_autocommit_is_off(user):
    def settings_now():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT coalesce(current_setting('todoproject.system', true), ''), "
                "coalesce(current_setting('todoproject.user_id', true), '')"
            )
            return cursor.fetchone()

    connection.set_autocommit(False)
    try:
        with system_scope():
            assert settings_now()[0] == "on"
        assert settings_now() == ("", "")
        with acting_as(user):
            assert settings_now()[1] == str(user.pk)
        assert settings_now() == ("", "")
    finally:
        connection.rollback()
        connection.set_autocommit(True)


@pytest.mark.django_db(transaction=True)
def test_a_bound_queryset_reads_again_after_an_update_emptied_it(user):
    TaskFactory.create_batch(2, owner=user, completed=False)
    tasks = services.get_tasks(user)

    assert [task.completed for task in tasks] == [False, False]
    tasks.update(completed=True)

    assert [task.completed for task in tasks] == [True, True]


@pytest.mark.django_db(transaction=True)
def test_for_owner_with_lookups_filters_and_binds_in_one_call(user, other_user):
    mine = TaskFactory(owner=user, title="Mine", completed=True)
    TaskFactory(owner=user, title="Mine too", completed=False)
    theirs = TaskFactory(owner=other_user, title="Theirs", completed=True)

    # Evaluated with no scope in force: the bound owner acts.
    assert list(Task.objects.for_owner(user, pk=mine.pk)) == [mine]
    assert list(Task.objects.for_owner(user, completed=True)) == [mine]
    # Another user's id matches nothing, as in the services.
    assert list(Task.objects.for_owner(user, pk=theirs.pk)) == []
    assert Task.objects.for_owner(other_user, pk=theirs.pk).get() == theirs
