"""
The one door for reads and writes that a person triggers.

Every function takes the acting user first and only ever touches that user's
tasks, twice over: its queries filter on the owner, and they run ``acting_as``
the owner, so PostgreSQL's row-level security would refuse any other row even
if a filter were missing. Another user's task is reported exactly like a task
that does not exist, so ids leak nothing. Each call is one round trip, the
acting user included.

What the services accept, checked before anything is sent to the database:

- ``owner``: a saved ``User``. Anything else (an id, a username, ``None``, an
  unsaved user) is a programming error: ``TypeError("owner must be a saved
  User, not int.")``.
- ``title``: a ``str`` of 1 to 200 characters, at least one of which shows
  something: whitespace, zero-width characters, fillers such as U+3164 and
  variation selectors count as blank (``tasks.validators.VISIBLE_CHARACTER``;
  the database's CHECK draws the same line).
- ``description``: a ``str`` of at most 10,000 characters
  (``DESCRIPTION_MAX_LENGTH``), possibly empty; not ``None``.
- ``completed``: ``True`` or ``False``; not ``1``, ``"t"`` or ``"false"``.
- No text may hold a NUL character or a lone surrogate (``"\\ud800"``).

A value that breaks these rules raises ``ValidationError`` whose
``message_dict`` names the field, and nothing is saved. A task id is an
``int`` or its decimal digits; anything else is "not found".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import router
from django.db.models import Count
from django.db.models.deletion import Collector
from django.utils.translation import gettext_lazy as _

from ownership.scope import acting_as
from replicas.router import note_write

from . import sql
from .models import Task

if TYPE_CHECKING:
    from accounts.models import User

    from .managers import TaskQuerySet

__all__ = [
    "UPDATABLE_FIELDS",
    "TaskCounts",
    "count_tasks",
    "create_task",
    "delete_task",
    "get_task",
    "get_tasks",
    "toggle_complete",
    "update_task",
]

UPDATABLE_FIELDS = frozenset({"title", "description", "completed"})


# The Python type each input field takes: str() or bool() of anything else
# would store "b'bytes'" for b"bytes" or accept "1" and 1.0 as True.
FIELD_TYPES: dict[str, type] = {"title": str, "description": str, "completed": bool}
_TYPE_MESSAGES = {
    str: _("Enter text (str), not %(type)s."),
    bool: _("Enter True or False, not %(type)s."),
}


def _type_name(value: Any) -> str:
    return "None" if value is None else type(value).__name__


def _check_owner(owner: Any) -> None:
    """Raise ``TypeError`` unless `owner` is a saved user."""
    if not isinstance(owner, get_user_model()):
        raise TypeError(f"owner must be a saved User, not {_type_name(owner)}.")
    if owner.pk is None:
        raise TypeError("owner must be a saved User, not an unsaved one.")


def _check_types(values: dict[str, Any]) -> None:
    """Raise ``ValidationError`` naming each field whose value has the wrong type."""
    errors = {}
    for name, value in values.items():
        expected = FIELD_TYPES[name]
        if not isinstance(value, expected):
            errors[name] = ValidationError(
                _TYPE_MESSAGES[expected],
                code="invalid",
                params={"type": _type_name(value)},
            )
    if errors:
        raise ValidationError(errors)


def _not_found(task_id: Any) -> Task.DoesNotExist:
    # One message for "no such task" and "someone else's task".
    return Task.DoesNotExist(f"Task {task_id!r} does not exist.")


def _parse_task_id(task_id: Any) -> int:
    """Return `task_id` as an int, or raise "not found" for anything else.

    Only an int or the decimal digits of one name a task: 3.9, Decimal("3.9")
    or True would otherwise be taken for tasks 3 and 1.
    """
    if (
        isinstance(task_id, str)
        and task_id.isascii()
        and task_id.isdecimal()
        and len(task_id) <= 19
    ):
        pk = int(task_id)
    elif isinstance(task_id, int) and not isinstance(task_id, bool):
        pk = task_id
    else:
        raise _not_found(task_id)
    # Ids are positive bigints; anything else matches no row by definition
    # (and would overflow the column's type in the query).
    if not 0 < pk < 2**63:
        raise _not_found(task_id)
    return pk


def _clean(task: Task) -> None:
    # The owner is set by the service, never by input, and the database
    # constraints repeat the field validators (the blank-title check is
    # both), so skip the extra queries those checks would cost.
    task.full_clean(exclude={"owner"}, validate_constraints=False)


def _clean_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Return `changes` converted and validated field by field."""
    _check_types(changes)
    cleaned, errors = {}, {}
    for name, value in changes.items():
        try:
            cleaned[name] = Task._meta.get_field(name).clean(value, None)
        except ValidationError as exc:
            errors[name] = exc.error_list
    if errors:
        raise ValidationError(errors)
    return cleaned


def create_task(owner: User, *, title: str, description: str = "") -> Task:
    """Create and return a task owned by `owner`."""
    _check_owner(owner)
    _check_types({"title": title, "description": description})
    task = Task(owner=owner, title=title, description=description)
    _clean(task)
    with acting_as(owner, atomic=False):
        task.save(force_insert=True)
    note_write(owner)
    return task


def get_tasks(owner: User, *, completed: bool | None = None) -> TaskQuerySet:
    """Return the tasks of `owner`, newest first.

    `completed=True` or `False` keeps only done or open tasks. The result is
    a lazy queryset bound to `owner`: slice it for a page
    (``get_tasks(user)[:50]``) or chain it like any other.
    """
    _check_owner(owner)
    if completed is not None and not isinstance(completed, bool):
        raise TypeError(f"completed must be True, False or None, not {completed!r}.")
    lookups = {} if completed is None else {"completed": completed}
    return Task.objects.for_owner(owner, **lookups).newest_first()


class TaskCounts(NamedTuple):
    open: int
    done: int


def count_tasks(owner: User) -> TaskCounts:
    """Return how many open and done tasks `owner` has.

    One ``count(*) ... GROUP BY completed`` over the owner's entries in the
    composite index: an index-only scan once the table is vacuumed, where
    ``Count("pk")`` would make PostgreSQL check each id for NULL.
    """
    _check_owner(owner)
    rows = (
        Task.objects.for_owner(owner)
        .order_by()
        .values_list("completed")
        .annotate(count=Count("*"))
    )
    counts = dict(rows)
    return TaskCounts(open=counts.get(False, 0), done=counts.get(True, 0))


def get_task(owner: User, task_id: int) -> Task:
    """Return the task `task_id` of `owner`, or raise ``Task.DoesNotExist``."""
    _check_owner(owner)
    pk = _parse_task_id(task_id)
    # A slice, not get(): get() would fetch up to 21 rows to report
    # duplicates that a primary key cannot have.
    found = list(Task.objects.for_owner(owner, pk=pk).order_by()[:1])
    if not found:
        raise _not_found(task_id)
    return found[0]


def update_task(owner: User, task_id: int, **changes: Any) -> Task:
    """Change the title, description or completed flag of a task of `owner`.

    Any other field name raises ``TypeError`` and an invalid value raises
    ``ValidationError``, both before anything is sent to the database. The
    change is one ``UPDATE ... RETURNING`` of just the given columns, so
    concurrent updates of different fields never undo each other.
    """
    _check_owner(owner)
    unknown = changes.keys() - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(
            f"update_task() cannot change {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(UPDATABLE_FIELDS))}."
        )
    pk = _parse_task_id(task_id)
    if not changes:
        return get_task(owner, pk)
    cleaned = _clean_changes(changes)
    task = sql.update_returning(owner, pk, cleaned, using=router.db_for_write(Task))
    if task is None:
        raise _not_found(task_id)
    note_write(owner)
    return task


def delete_task(owner: User, task_id: int) -> None:
    """Delete the task `task_id` of `owner`, or raise ``Task.DoesNotExist``."""
    _check_owner(owner)
    pk = _parse_task_id(task_id)
    using = router.db_for_write(Task)
    if Collector(using=using, origin=None).can_fast_delete(Task):
        # Nothing to cascade and no delete signals to send: the one DELETE
        # that QuerySet.delete() would issue, without its BEGIN and COMMIT.
        deleted = sql.delete_one(owner, pk, using=using)
        note_write(owner, using)
    else:
        # A bound delete(): it remembers the write itself.
        deleted, _ = Task.objects.for_owner(owner).filter(pk=pk).delete()
    if not deleted:
        raise _not_found(task_id)


def toggle_complete(owner: User, task_id: int) -> Task:
    """Flip the completed flag of a task of `owner` and return the task.

    A single ``UPDATE ... SET completed = NOT completed ... RETURNING``, so
    concurrent toggles never lose an update and nothing is read first.
    """
    _check_owner(owner)
    pk = _parse_task_id(task_id)
    task = sql.update_returning(
        owner, pk, {}, using=router.db_for_write(Task), toggle=True
    )
    if task is None:
        raise _not_found(task_id)
    note_write(owner)
    return task
