"""Round trips per service call, as in production: outside any transaction.

Each single-statement service sends its statement behind the acting user's
``set_config`` in one query string: one round trip, no BEGIN or COMMIT
(Django 5.2 would record those among the queries).
"""

import re

import pytest

from ownership.scope import USER_SETTING
from tasks import services
from tests.factories import TaskFactory

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


def assert_one_scoped_statement(queries, statement, owner=None):
    """One round trip: the scope's set_config, then `statement`.

    With `owner`, the statement itself must filter on that owner: row-level
    security would hide a missing condition on PostgreSQL, so only the SQL
    shows it.
    """
    (query,) = queries.captured_queries
    assert query["sql"].startswith(f"SELECT set_config('{USER_SETTING}'")
    assert f"; {statement}" in query["sql"]
    if owner is not None:
        own = query["sql"].split(f"; {statement}", 1)[1]
        assert re.search(rf"\bWHERE\b.*\"?owner_id\"? = {owner.pk}\b", own), own


def test_create_task(user, django_assert_num_queries):
    with django_assert_num_queries(1) as queries:
        services.create_task(user, title="Buy milk")

    assert_one_scoped_statement(queries, "INSERT")


def test_get_tasks_first_page(user, django_assert_num_queries):
    TaskFactory.create_batch(60, owner=user)

    with django_assert_num_queries(1) as queries:
        page = list(services.get_tasks(user, completed=False)[:50])

    assert len(page) == 50
    assert_one_scoped_statement(queries, "SELECT", owner=user)


def test_count_tasks(user, django_assert_num_queries):
    TaskFactory.create_batch(3, owner=user)

    with django_assert_num_queries(1) as queries:
        assert services.count_tasks(user) == (3, 0)

    assert_one_scoped_statement(queries, "SELECT", owner=user)
    assert "COUNT(*)" in queries.captured_queries[0]["sql"]


def test_get_task(task, user, django_assert_num_queries):
    with django_assert_num_queries(1) as queries:
        services.get_task(user, task.pk)

    assert_one_scoped_statement(queries, "SELECT", owner=user)


def test_update_task(task, user, django_assert_num_queries):
    with django_assert_num_queries(1) as queries:
        services.update_task(user, task.pk, title="Buy oat milk")

    assert_one_scoped_statement(queries, "UPDATE", owner=user)


def test_delete_task(task, user, django_assert_num_queries):
    with django_assert_num_queries(1) as queries:
        services.delete_task(user, task.pk)

    assert_one_scoped_statement(queries, "DELETE", owner=user)


def test_toggle_complete(task, user, django_assert_num_queries):
    with django_assert_num_queries(1) as queries:
        services.toggle_complete(user, task.pk)

    assert_one_scoped_statement(queries, "UPDATE", owner=user)
