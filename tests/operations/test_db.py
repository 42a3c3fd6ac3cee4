import datetime

import pytest
from django.db import connection
from psycopg import postgres

from operations.db import UtcTimestamptzLoader
from tasks.models import Task
from tests.factories import TaskFactory
from tests.utils import stored_task

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db]


def test_timestamps_are_parsed_by_the_c_loader_on_utc_connections():
    connection.ensure_connection()
    loader = connection.connection.adapters.get_loader(
        postgres.types["timestamptz"].oid, UtcTimestamptzLoader.format
    )

    assert loader is UtcTimestamptzLoader


def test_timestamps_round_trip_exactly_in_utc(user):
    moment = datetime.datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=datetime.UTC)
    task = TaskFactory(owner=user, created_at=moment)

    loaded = stored_task(task.pk)

    assert loaded.created_at == moment
    assert loaded.created_at.tzinfo is datetime.UTC
    assert Task._meta.get_field("created_at").value_to_string(loaded)
