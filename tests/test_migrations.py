from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

from tasks.models import Task
from tests.factories import TaskFactory, UserFactory
from tests.utils import stored_tasks


@pytest.mark.django_db
def test_models_and_migrations_are_in_step():
    out = StringIO()

    # --check exits non-zero when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_tasks_migrations_reverse_and_reapply_on_a_database_with_data():
    owner = UserFactory()
    TaskFactory.create_batch(3, owner=owner)

    call_command("migrate", "tasks", "zero", verbosity=0)
    assert Task._meta.db_table not in connection.introspection.table_names()

    call_command("migrate", verbosity=0)
    assert Task._meta.db_table in connection.introspection.table_names()
    # The schema works again and the users survived.
    TaskFactory(owner=owner)
    assert len(stored_tasks(owner=owner)) == 1
