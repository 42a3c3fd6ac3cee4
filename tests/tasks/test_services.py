from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError

from accounts.models import User
from tasks import services
from tasks.models import DESCRIPTION_MAX_LENGTH, Task
from tests.factories import TaskFactory
from tests.utils import stored_row, stored_task, stored_tasks

pytestmark = pytest.mark.django_db


def snapshot(task):
    """Return the stored state of `task`, read past every service."""
    return stored_row(task.pk)


# create_task


def test_create_task_saves_a_task_owned_by_the_caller(user):
    task = services.create_task(user, title="Buy milk", description="Two litres")

    stored = stored_task(task.pk)
    assert stored.owner == user
    assert (stored.title, stored.description, stored.completed) == (
        "Buy milk",
        "Two litres",
        False,
    )


def test_create_task_with_blank_title_saves_nothing(user):
    with pytest.raises(ValidationError) as excinfo:
        services.create_task(user, title="   ")

    assert "title" in excinfo.value.message_dict
    assert stored_tasks() == []


def test_create_task_with_too_long_title_saves_nothing(user):
    with pytest.raises(ValidationError):
        services.create_task(user, title="x" * 201)

    assert stored_tasks() == []


def test_create_task_refuses_an_unsaved_owner():
    with pytest.raises(TypeError, match="owner must be a saved User, not an unsaved"):
        services.create_task(User(username="ghost"), title="Boo")


# get_tasks


def test_get_tasks_returns_only_the_callers_tasks_newest_first(user, other_user):
    older = TaskFactory(owner=user)
    newer = TaskFactory(owner=user)
    TaskFactory(owner=other_user)

    assert list(services.get_tasks(user)) == [newer, older]


def test_get_tasks_filters_by_completed(user):
    open_task = TaskFactory(owner=user)
    done_task = TaskFactory(owner=user, completed=True)

    assert list(services.get_tasks(user, completed=False)) == [open_task]
    assert list(services.get_tasks(user, completed=True)) == [done_task]


def test_get_tasks_refuses_a_non_boolean_filter(user):
    with pytest.raises(TypeError, match="completed must be"):
        services.get_tasks(user, completed="no")


# count_tasks


def test_count_tasks_counts_only_the_callers_open_and_done_tasks(user, other_user):
    TaskFactory.create_batch(3, owner=user)
    TaskFactory.create_batch(2, owner=user, completed=True)
    TaskFactory.create_batch(4, owner=other_user)

    assert services.count_tasks(user) == services.TaskCounts(open=3, done=2)
    assert services.count_tasks(user).open == 3


def test_count_tasks_of_a_user_without_tasks_is_zero(user):
    assert services.count_tasks(user) == (0, 0)


# get_task


def test_get_task_returns_the_callers_task(task, user):
    assert services.get_task(user, task.pk) == task


def test_get_task_accepts_an_id_given_as_text(task, user):
    assert services.get_task(user, str(task.pk)) == task


@pytest.mark.parametrize("task_id", [0, 10**6, -1, "abc", None, True, 2**70])
def test_get_task_with_a_bad_or_unknown_id_is_not_found(user, task_id):
    with pytest.raises(Task.DoesNotExist, match=r"does not exist"):
        services.get_task(user, task_id)


# update_task


def test_update_task_changes_the_given_fields(task, user):
    updated = services.update_task(user, task.pk, title="Buy oat milk", completed=True)

    task = stored_task(task.pk)
    assert (task.title, task.description, task.completed) == (
        "Buy oat milk",
        "Two litres",
        True,
    )
    assert updated.title == "Buy oat milk"
    assert updated.updated_at == task.updated_at


@pytest.mark.parametrize(
    "changes",
    [{"owner": None}, {"id": 1}, {"created_at": None}, {"title": "ok", "nope": 1}],
)
def test_update_task_refuses_other_fields_and_changes_nothing(task, user, changes):
    before = snapshot(task)

    # owner= collides with the parameter itself: Python's own TypeError.
    with pytest.raises(TypeError, match="cannot change|multiple values"):
        services.update_task(user, task.pk, **changes)

    assert snapshot(task) == before


@pytest.mark.parametrize(
    "changes", [{"title": ""}, {"title": "x" * 201}, {"completed": "maybe"}]
)
def test_update_task_with_invalid_values_saves_nothing(task, user, changes):
    before = snapshot(task)

    with pytest.raises(ValidationError):
        services.update_task(user, task.pk, **changes)

    assert snapshot(task) == before


def test_update_task_of_unknown_id_is_not_found(user):
    with pytest.raises(Task.DoesNotExist):
        services.update_task(user, 10**6, title="x")


# delete_task


def test_delete_task_removes_only_that_task(task, user):
    kept = TaskFactory(owner=user)

    services.delete_task(user, task.pk)

    assert stored_tasks() == [kept]


def test_delete_task_twice_is_not_found_the_second_time(task, user):
    services.delete_task(user, task.pk)

    with pytest.raises(Task.DoesNotExist):
        services.delete_task(user, task.pk)


# toggle_complete


def test_toggle_complete_flips_and_returns_the_new_state(task, user):
    toggled = services.toggle_complete(user, task.pk)

    assert toggled.completed is True
    assert toggled.pk == task.pk
    assert toggled.title == task.title
    assert toggled.updated_at > task.updated_at
    assert services.toggle_complete(user, task.pk).completed is False
    task = stored_task(task.pk)
    assert task.completed is False


def test_toggle_complete_of_unknown_id_is_not_found(user):
    with pytest.raises(Task.DoesNotExist):
        services.toggle_complete(user, 10**6)


# Isolation: every service, called by one user on another user's task.


def _call_every_service(caller, task_id):
    return {
        "get_task": lambda: services.get_task(caller, task_id),
        "update_task": lambda: services.update_task(caller, task_id, title="Mine"),
        "update_task_completed": lambda: services.update_task(
            caller, task_id, completed=True
        ),
        "delete_task": lambda: services.delete_task(caller, task_id),
        "toggle_complete": lambda: services.toggle_complete(caller, task_id),
    }


@pytest.mark.isolation
@pytest.mark.parametrize(
    "service",
    [
        "get_task",
        "update_task",
        "update_task_completed",
        "delete_task",
        "toggle_complete",
    ],
)
def test_other_users_task_is_not_found_and_unchanged(user, other_task, service):
    before = snapshot(other_task)

    with pytest.raises(Task.DoesNotExist) as foreign:
        _call_every_service(user, other_task.pk)[service]()

    assert snapshot(other_task) == before
    # Someone else's task and a task that never existed look the same,
    # apart from the id the caller supplied.
    missing_id = other_task.pk + 1000
    with pytest.raises(Task.DoesNotExist) as missing:
        _call_every_service(user, missing_id)[service]()
    assert str(foreign.value).replace(str(other_task.pk), "N") == str(
        missing.value
    ).replace(str(missing_id), "N")


@pytest.mark.isolation
def test_get_tasks_never_lists_other_users_tasks(user, other_task):
    assert list(services.get_tasks(user)) == []
    assert list(services.get_tasks(user, completed=False)) == []


@pytest.mark.isolation
def test_returned_objects_stay_usable_after_the_call(task, user):
    tasks = services.get_tasks(user)
    fetched = services.get_task(user, task.pk)

    assert [t.title for t in tasks] == ["Buy milk"]
    assert fetched.owner == user
    assert tasks.count() == 1


def test_delete_task_sends_delete_signals_when_someone_listens(task, user):
    from django.db.models.signals import post_delete

    deleted = []

    def receiver(sender, instance, **kwargs):
        deleted.append(instance.pk)

    post_delete.connect(receiver, sender=Task)
    try:
        services.delete_task(user, task.pk)
    finally:
        post_delete.disconnect(receiver, sender=Task)

    assert deleted == [task.pk]
    assert stored_tasks() == []


def test_get_tasks_is_an_ordinary_chainable_queryset(user):
    TaskFactory(owner=user, title="Water the plants")
    TaskFactory(owner=user, title="Buy milk", completed=True)

    tasks = services.get_tasks(user)

    assert [t.title for t in tasks.filter(title__startswith="Water")] == [
        "Water the plants"
    ]
    assert tasks.done().count() == 1
    assert list(tasks.values_list("title", flat=True)[:1]) == ["Buy milk"]


def test_a_query_assigned_to_get_tasks_result_is_the_one_evaluated(user):
    TaskFactory.create_batch(3, owner=user)
    TaskFactory(owner=user, completed=True)
    tasks = services.get_tasks(user)

    tasks.query = services.get_tasks(user, completed=True).query

    assert [t.completed for t in tasks] == [True]


@pytest.mark.parametrize(
    "spell",
    [
        float,
        lambda pk: pk + 0.9,
        Decimal,
        lambda pk: Decimal(pk) + Decimal("0.9"),
        lambda pk: f" {pk}",
        lambda pk: f"{pk}.0",
        lambda pk: str(pk).encode(),
        lambda pk: str(pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
    ],
)
def test_only_integers_and_their_digits_are_task_ids(task, user, spell):
    with pytest.raises(Task.DoesNotExist):
        services.get_task(user, spell(task.pk))


@pytest.mark.parametrize(
    "changes",
    [{"title": "Buy\x00milk"}, {"description": "two\x00litres"}],
)
def test_a_nul_character_is_a_validation_error_and_saves_nothing(task, user, changes):
    before = snapshot(task)

    with pytest.raises(ValidationError) as refused:
        services.update_task(user, task.pk, **changes)
    with pytest.raises(ValidationError):
        services.create_task(user, **{"title": "ok", **changes})

    assert set(refused.value.message_dict) == set(changes)
    assert snapshot(task) == before
    assert len(stored_tasks(owner=user)) == 1


INVISIBLE_TITLES = [
    "\u200b",
    "\u200b \ufeff\u200d",
    "\u2060\t",
    "\u3164",
    "\u115f\u1160",
    "\uffa0",
    "\u2800\u2800",
    "\u034f",
    "\ufe0f",
    "".join(map(chr, range(0xFE00, 0xFE10))),
    "\U000e0100\U000e01ef",
    "\u3000\u00a0\u202f\u200e",
]


@pytest.mark.parametrize("title", INVISIBLE_TITLES)
def test_a_title_of_invisible_characters_is_blank(task, user, title):
    before = snapshot(task)

    with pytest.raises(ValidationError, match="cannot be blank"):
        services.create_task(user, title=title)
    with pytest.raises(ValidationError) as refused:
        services.update_task(user, task.pk, title=title)

    assert refused.value.message_dict == {"title": ["This field cannot be blank."]}
    assert stored_tasks(owner=user) == [task]
    assert snapshot(task) == before


@pytest.mark.parametrize("title", ["\u3164x", "\u2800\u2801", "é", "\U0001f600"])
def test_a_title_with_one_visible_character_is_saved(user, title):
    task = services.create_task(user, title=title)

    assert stored_task(task.pk).title == title


NOT_TEXT = [b"bytes", ["x"], 12345, 1.5, None, True]


@pytest.mark.parametrize("field", ["title", "description"])
@pytest.mark.parametrize("value", NOT_TEXT, ids=repr)
def test_text_fields_refuse_what_is_not_str_and_save_nothing(task, user, field, value):
    before = snapshot(task)
    create = {"title": "ok", field: value}

    with pytest.raises(ValidationError) as created:
        services.create_task(user, **create)
    with pytest.raises(ValidationError) as updated:
        services.update_task(user, task.pk, **{field: value})

    kind = "None" if value is None else type(value).__name__
    message = [f"Enter text (str), not {kind}."]
    assert created.value.message_dict == {field: message}
    assert updated.value.message_dict == {field: message}
    assert stored_tasks(owner=user) == [task]
    assert snapshot(task) == before


@pytest.mark.parametrize(
    "value", ["1", "t", "true", "false", 1, 0, 1.0, None, b"1"], ids=repr
)
def test_completed_is_only_true_or_false(task, user, value):
    before = snapshot(task)

    with pytest.raises(ValidationError) as refused:
        services.update_task(user, task.pk, completed=value)

    assert list(refused.value.message_dict) == ["completed"]
    assert "Enter True or False" in refused.value.message_dict["completed"][0]
    assert snapshot(task) == before


def test_every_field_of_the_wrong_type_is_named_at_once(task, user):
    with pytest.raises(ValidationError) as refused:
        services.update_task(user, task.pk, title=1, description=None, completed="1")

    assert set(refused.value.message_dict) == {"title", "description", "completed"}


@pytest.mark.parametrize("field", ["title", "description"])
@pytest.mark.parametrize(
    "text", ["\ud800", "a\udfffb", "\ud83d\ude00"], ids=["high", "low", "a-pair"]
)
def test_a_lone_surrogate_is_a_validation_error_and_saves_nothing(
    task, user, field, text
):
    before = snapshot(task)

    with pytest.raises(ValidationError) as created:
        services.create_task(user, **{"title": "ok", field: text})
    with pytest.raises(ValidationError) as updated:
        services.update_task(user, task.pk, **{field: text})

    assert list(created.value.message_dict) == [field]
    assert "lone surrogate" in updated.value.message_dict[field][0]
    assert stored_tasks(owner=user) == [task]
    assert snapshot(task) == before


def test_a_description_of_the_maximum_length_is_saved(user):
    text = "é" * DESCRIPTION_MAX_LENGTH

    task = services.create_task(user, title="Long", description=text)

    assert stored_task(task.pk).description == text


def test_a_longer_description_is_a_validation_error_and_saves_nothing(task, user):
    before = snapshot(task)
    text = "x" * (DESCRIPTION_MAX_LENGTH + 1)

    with pytest.raises(ValidationError) as created:
        services.create_task(user, title="Long", description=text)
    with pytest.raises(ValidationError) as updated:
        services.update_task(user, task.pk, description=text)

    assert list(created.value.message_dict) == ["description"]
    assert list(updated.value.message_dict) == ["description"]
    assert snapshot(task) == before


NOT_SAVED_USERS = [
    (1, "int"),
    ("alice", "str"),
    (None, "None"),
    (AnonymousUser(), "AnonymousUser"),
    (User(username="ghost"), "an unsaved one"),
]
SERVICES_OF_OWNER = [
    lambda owner, pk: services.create_task(owner, title="Boo"),
    lambda owner, pk: services.get_tasks(owner),
    lambda owner, pk: services.count_tasks(owner),
    lambda owner, pk: services.get_task(owner, pk),
    lambda owner, pk: services.update_task(owner, pk, title="Boo"),
    lambda owner, pk: services.delete_task(owner, pk),
    lambda owner, pk: services.toggle_complete(owner, pk),
]


@pytest.mark.parametrize(("owner", "kind"), NOT_SAVED_USERS, ids=lambda v: str(v))
@pytest.mark.parametrize(
    "service",
    SERVICES_OF_OWNER,
    ids=["create", "get_tasks", "count", "get", "update", "delete", "toggle"],
)
def test_an_owner_that_is_not_a_saved_user_is_a_type_error(
    task, user, owner, kind, service
):
    before = snapshot(task)

    with pytest.raises(TypeError, match=f"^owner must be a saved User, not {kind}"):
        service(owner, task.pk)

    assert stored_tasks() == [task]
    assert snapshot(task) == before
