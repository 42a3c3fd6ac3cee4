import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction

from tasks.models import TITLE_MAX_LENGTH, Task
from tests.factories import TaskFactory, UserFactory

# These tests are about the schema, not about who may see what.
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("as_system")]


def test_defaults_and_timestamps(user):
    task = Task.objects.create(owner=user, title="Write report")

    task.refresh_from_db()
    assert task.description == ""
    assert task.completed is False
    assert task.created_at.tzinfo is not None
    assert task.updated_at >= task.created_at


def test_updated_at_moves_on_save(task):
    before = task.updated_at

    task.title = "Buy oat milk"
    task.save()

    task.refresh_from_db()
    assert task.updated_at > before


def test_str_is_the_title(task):
    assert str(task) == "Buy milk"


@pytest.mark.parametrize("title", ["", "   ", "\t\n"])
def test_blank_title_is_refused_by_the_database(user, title):
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(owner=user, title=title)


@pytest.mark.parametrize("title", ["", "   ", "\t\n"])
def test_blank_title_fails_validation(user, title):
    with pytest.raises(ValidationError) as excinfo:
        Task(owner=user, title=title).full_clean()

    assert "title" in excinfo.value.message_dict


def test_title_longer_than_the_limit_fails_validation(user):
    with pytest.raises(ValidationError) as excinfo:
        Task(owner=user, title="x" * (TITLE_MAX_LENGTH + 1)).full_clean()

    assert "title" in excinfo.value.message_dict


@pytest.mark.postgresql
def test_title_longer_than_the_limit_is_refused_by_the_database(user):
    with pytest.raises(DataError), transaction.atomic():
        Task.objects.create(owner=user, title="x" * (TITLE_MAX_LENGTH + 1))


def test_task_without_owner_is_refused_by_the_database():
    with pytest.raises(IntegrityError), transaction.atomic():
        Task.objects.create(title="Orphan")


def test_deleting_a_user_removes_exactly_their_tasks(user, other_user):
    TaskFactory.create_batch(3, owner=user)
    kept = TaskFactory.create_batch(2, owner=other_user)

    user.delete()

    assert list(Task.objects.order_by("id")) == kept


def test_related_name_is_tasks(user):
    task = TaskFactory(owner=user)

    assert list(user.tasks.all()) == [task]


def test_default_ordering_is_newest_first():
    owner = UserFactory()
    first = TaskFactory(owner=owner)
    second = TaskFactory(owner=owner)

    assert list(Task.objects.all()) == [second, first]


@pytest.mark.postgresql
def test_composite_indexes_exist_in_the_database():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(
            cursor, Task._meta.db_table
        )

    assert constraints["task_owner_done_created_idx"]["columns"] == [
        "owner_id",
        "completed",
        "created_at",
        "id",
    ]
    assert constraints["task_owner_done_created_idx"]["orders"] == [
        "ASC",
        "ASC",
        "DESC",
        "DESC",
    ]
    assert constraints["task_owner_created_idx"]["columns"] == [
        "owner_id",
        "created_at",
        "id",
    ]
