import re

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction

from tasks.models import DESCRIPTION_MAX_LENGTH, TITLE_MAX_LENGTH, Task
from tasks.validators import VISIBLE_CHARACTER
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


BLANK_TITLES = [
    "",
    "   ",
    "\t\n",
    "\u3164",
    "\u115f\u1160\uffa0",
    "\u2800",
    "\u034f\u200b\u200c\u200d\u2060\ufeff",
    "\ufe00\ufe0f \U000e0100\U000e01ef",
    "\u3000\u00a0",
]


@pytest.mark.parametrize("title", BLANK_TITLES)
def test_blank_title_is_refused_by_the_database(user, title):
    refused = pytest.raises(IntegrityError, match="task_title_not_blank")
    with refused, transaction.atomic():
        Task.objects.create(owner=user, title=title)


@pytest.mark.parametrize("title", BLANK_TITLES)
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


def test_description_longer_than_the_limit_fails_validation(user):
    too_long = "x" * (DESCRIPTION_MAX_LENGTH + 1)
    task = Task(owner=user, title="Long", description=too_long)

    with pytest.raises(ValidationError) as excinfo:
        task.full_clean()

    assert list(excinfo.value.message_dict) == ["description"]


def test_description_longer_than_the_limit_is_refused_by_the_database(user):
    Task.objects.create(owner=user, title="At the limit", description="é" * 10_000)

    refused = pytest.raises(IntegrityError, match="task_description_max_length")
    with refused, transaction.atomic():
        Task.objects.create(owner=user, title="Long", description="x" * 10_001)


@pytest.mark.postgresql
def test_the_database_and_the_validator_agree_on_every_character():
    # Every code point PostgreSQL's text can hold (no NUL, no surrogate).
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT cp FROM generate_series(1, 1114111) AS cp "
            "WHERE cp NOT BETWEEN 55296 AND 57343 AND NOT chr(cp) ~ %s",
            [VISIBLE_CHARACTER],
        )
        blank_in_the_database = {cp for (cp,) in cursor.fetchall()}

    visible = re.compile(VISIBLE_CHARACTER)
    blank_in_python = {
        cp
        for cp in range(1, 0x110000)
        if not 0xD800 <= cp <= 0xDFFF and not visible.match(chr(cp))
    }
    assert blank_in_the_database == blank_in_python
    assert {0x3164, 0x2800, 0xFE0F, 0xE0100, 0x200B, 0x20} <= blank_in_python


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
