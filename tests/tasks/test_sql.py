"""The hand-written statements store and return exactly what the ORM would."""

import pytest
from django.db import DEFAULT_DB_ALIAS
from django.db.models import F

from tasks import services, sql
from tasks.models import Task
from tests.factories import TaskFactory
from tests.utils import stored_row, stored_task

pytestmark = pytest.mark.django_db

COLUMNS = ["id", "title", "description", "completed", "created_at", "owner_id"]


def columns(row: dict) -> dict:
    return {name: row[name] for name in COLUMNS}


def test_update_returning_stores_what_queryset_update_stores(user):
    by_sql, by_orm = TaskFactory.create_batch(2, owner=user)
    changes = {"title": "Paint the fence", "description": "White", "completed": True}

    returned = sql.update_returning(user, by_sql.pk, changes, using=DEFAULT_DB_ALIAS)
    Task.objects.for_owner(user).filter(pk=by_orm.pk).update(**changes)

    stored_sql, stored_orm = stored_row(by_sql.pk), stored_row(by_orm.pk)
    assert {k: stored_sql[k] for k in changes} == {k: stored_orm[k] for k in changes}
    assert columns(stored_sql) == {name: getattr(returned, name) for name in COLUMNS}
    assert stored_sql["updated_at"] == returned.updated_at


def test_updated_at_can_be_filtered_on_as_the_orm_stores_it(task, user):
    # On SQLite a datetime stored in another text format than the ORM's
    # would never equal the same value in a filter.
    updated = services.update_task(user, task.pk, title="Buy oat milk")

    with_orm = Task.objects.for_owner(user).filter(updated_at=updated.updated_at)

    assert list(with_orm) == [updated]


def test_toggle_flips_as_an_f_expression_update_does(user):
    by_sql, by_orm = TaskFactory.create_batch(2, owner=user, completed=False)

    returned = sql.update_returning(
        user, by_sql.pk, {}, using=DEFAULT_DB_ALIAS, toggle=True
    )
    Task.objects.for_owner(user).filter(pk=by_orm.pk).update(completed=~F("completed"))

    assert returned.completed is True
    assert stored_task(by_sql.pk).completed is stored_task(by_orm.pk).completed is True


def test_update_returning_of_another_users_task_changes_nothing(user, other_task):
    returned = sql.update_returning(
        user, other_task.pk, {"title": "Mine now"}, using=DEFAULT_DB_ALIAS
    )

    assert returned is None
    assert stored_task(other_task.pk).title == "Bob's secret plan"


def test_delete_one_deletes_what_queryset_delete_deletes(user, other_task):
    by_sql, by_orm = TaskFactory.create_batch(2, owner=user)

    assert sql.delete_one(user, by_sql.pk, using=DEFAULT_DB_ALIAS) is True
    deleted, _ = Task.objects.for_owner(user).filter(pk=by_orm.pk).delete()

    assert deleted == 1
    assert not Task.objects.for_owner(user).filter(pk__in=[by_sql.pk, by_orm.pk])
    assert sql.delete_one(user, other_task.pk, using=DEFAULT_DB_ALIAS) is False
    assert stored_task(other_task.pk).title == "Bob's secret plan"
