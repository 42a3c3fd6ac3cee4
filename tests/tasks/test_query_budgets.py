"""Statements per service call, as in production: outside any transaction.

Each service runs in its own transaction (Django 5.2 records BEGIN and
COMMIT among the queries) and sets the acting user with one ``set_config``
before its work.
"""

import pytest

from tasks import services
from tests.factories import TaskFactory

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]

# BEGIN, set_config(...), COMMIT
SCOPE = 3


def test_create_task(user, django_assert_num_queries):
    with django_assert_num_queries(SCOPE + 1):
        services.create_task(user, title="Buy milk")


def test_get_tasks_first_page(user, django_assert_num_queries):
    TaskFactory.create_batch(60, owner=user)

    with django_assert_num_queries(SCOPE + 1):
        page = list(services.get_tasks(user, completed=False)[:50])

    assert len(page) == 50


def test_get_task(task, user, django_assert_num_queries):
    with django_assert_num_queries(SCOPE + 1):
        services.get_task(user, task.pk)


def test_update_task_locks_then_updates(task, user, django_assert_num_queries):
    with django_assert_num_queries(SCOPE + 2) as queries:
        services.update_task(user, task.pk, title="Buy oat milk")

    assert queries.captured_queries[2]["sql"].endswith("FOR UPDATE")


def test_delete_task(task, user, django_assert_num_queries):
    with django_assert_num_queries(SCOPE + 1):
        services.delete_task(user, task.pk)


def test_toggle_complete_is_a_single_update(task, user, django_assert_num_queries):
    with django_assert_num_queries(SCOPE + 1) as queries:
        services.toggle_complete(user, task.pk)

    assert queries.captured_queries[2]["sql"].startswith("UPDATE")
