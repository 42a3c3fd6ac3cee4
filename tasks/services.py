"""
The one door for reads and writes that a person triggers.

Every function takes the acting user first and only ever touches that user's
tasks, twice over: its queries filter on the owner, and it runs them
``acting_as`` the owner, so PostgreSQL's row-level security would refuse any
other row even if a filter were missing. Another user's task is reported
exactly like a task that does not exist, so ids leak nothing. Invalid values
raise ``ValidationError`` and nothing is saved.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import connections, router
from django.utils import timezone

from .models import Task
from .rls import acting_as

if TYPE_CHECKING:
    from accounts.models import User

    from .managers import TaskQuerySet

__all__ = [
    "UPDATABLE_FIELDS",
    "create_task",
    "delete_task",
    "get_task",
    "get_tasks",
    "toggle_complete",
    "update_task",
]

UPDATABLE_FIELDS = frozenset({"title", "description", "completed"})


def _not_found(task_id: Any) -> Task.DoesNotExist:
    # One message for "no such task" and "someone else's task".
    return Task.DoesNotExist(f"Task {task_id!r} does not exist.")


def _parse_task_id(task_id: Any) -> int:
    """Return `task_id` as an int, or raise "not found" for anything else."""
    if isinstance(task_id, bool):
        raise _not_found(task_id)
    try:
        return Task._meta.pk.to_python(task_id)
    except ValidationError:
        raise _not_found(task_id) from None


def _clean(task: Task) -> None:
    # The owner is set by the service, never by input, and the database
    # constraints repeat the field validators (the blank-title check is
    # both), so skip the extra queries those checks would cost.
    task.full_clean(exclude={"owner"}, validate_constraints=False)


def create_task(owner: User, *, title: str, description: str = "") -> Task:
    """Create and return a task owned by `owner`."""
    if owner.pk is None:
        raise ValueError("The owner must be a saved user.")
    task = Task(owner=owner, title=title, description=description)
    _clean(task)
    with acting_as(owner):
        task.save(force_insert=True)
    return task


def get_tasks(owner: User, *, completed: bool | None = None) -> TaskQuerySet:
    """Return the tasks of `owner`, newest first.

    `completed=True` or `False` keeps only done or open tasks. The result is
    a lazy queryset: slice it for a page (``get_tasks(user)[:50]``).
    """
    if completed is not None and not isinstance(completed, bool):
        raise TypeError(f"completed must be True, False or None, not {completed!r}.")
    tasks = Task.objects.for_owner(owner)
    if completed is True:
        tasks = tasks.done()
    elif completed is False:
        tasks = tasks.open()
    return tasks.newest_first()


def get_task(owner: User, task_id: int) -> Task:
    """Return the task `task_id` of `owner`, or raise ``Task.DoesNotExist``."""
    pk = _parse_task_id(task_id)
    try:
        return Task.objects.for_owner(owner).get(pk=pk)
    except Task.DoesNotExist:
        raise _not_found(task_id) from None


def update_task(owner: User, task_id: int, **changes: Any) -> Task:
    """Change the title, description or completed flag of a task of `owner`.

    Any other field name raises ``TypeError`` before anything is read.
    """
    unknown = changes.keys() - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(
            f"update_task() cannot change {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(UPDATABLE_FIELDS))}."
        )
    pk = _parse_task_id(task_id)
    with acting_as(owner):
        try:
            # The row lock makes concurrent updates queue instead of
            # overwriting each other's fields with stale values.
            task = Task.objects.for_owner(owner).select_for_update().get(pk=pk)
        except Task.DoesNotExist:
            raise _not_found(task_id) from None
        if not changes:
            return task
        for name, value in changes.items():
            setattr(task, name, value)
        _clean(task)
        task.save(update_fields=[*changes, "updated_at"])
    return task


def delete_task(owner: User, task_id: int) -> None:
    """Delete the task `task_id` of `owner`, or raise ``Task.DoesNotExist``."""
    pk = _parse_task_id(task_id)
    deleted, _ = Task.objects.for_owner(owner).filter(pk=pk).delete()
    if not deleted:
        raise _not_found(task_id)


def toggle_complete(owner: User, task_id: int) -> Task:
    """Flip the completed flag of a task of `owner` and return the task.

    A single ``UPDATE ... SET completed = NOT completed ... RETURNING``, so
    concurrent toggles never lose an update and nothing is read first.
    """
    pk = _parse_task_id(task_id)
    using = router.db_for_write(Task)
    qn = connections[using].ops.quote_name
    meta = Task._meta
    columns = ", ".join(qn(field.column) for field in meta.concrete_fields)
    sql = (
        f"UPDATE {qn(meta.db_table)} "
        f"SET {qn('completed')} = NOT {qn('completed')}, {qn('updated_at')} = %s "
        f"WHERE {qn('id')} = %s AND {qn('owner_id')} = %s "
        f"RETURNING {columns}"
    )
    # raw() rather than a bare cursor: it applies the backend's converters,
    # so the returned task holds the same Python values as any other.
    with acting_as(owner, using=using):
        updated = list(
            Task.objects.raw(sql, (timezone.now(), pk, owner.pk), using=using)
        )
    if not updated:
        raise _not_found(task_id)
    return updated[0]
