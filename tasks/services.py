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

from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from django.core.exceptions import ValidationError
from django.db import connections, router
from django.db.models.deletion import Collector
from django.utils import timezone

from ownership.scope import acting_as

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


def _not_found(task_id: Any) -> Task.DoesNotExist:
    # One message for "no such task" and "someone else's task".
    return Task.DoesNotExist(f"Task {task_id!r} does not exist.")


def _parse_task_id(task_id: Any) -> int:
    """Return `task_id` as an int, or raise "not found" for anything else."""
    if isinstance(task_id, bool):
        raise _not_found(task_id)
    if isinstance(task_id, float):  # 1.5 would become task 1
        raise _not_found(task_id)
    try:
        pk = Task._meta.pk.to_python(task_id)
    except ValidationError:
        raise _not_found(task_id) from None
    # Ids are positive bigints; anything else matches no row by definition
    # (and would overflow the column's type in the query).
    if pk is None or not 0 < pk < 2**63:
        raise _not_found(task_id)
    return pk


def _clean(task: Task) -> None:
    # The owner is set by the service, never by input, and the database
    # constraints repeat the field validators (the blank-title check is
    # both), so skip the extra queries those checks would cost.
    task.full_clean(exclude={"owner"}, validate_constraints=False)


def _clean_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """Return `changes` converted and validated field by field."""
    cleaned, errors = {}, {}
    for name, value in changes.items():
        try:
            cleaned[name] = Task._meta.get_field(name).clean(value, None)
        except ValidationError as exc:
            errors[name] = exc.error_list
    if errors:
        raise ValidationError(errors)
    return cleaned


@cache
def _converters(using: str) -> list[tuple[int, list, Any]]:
    """Return the backend's value converters for Task's columns on `using`.

    What a queryset applies to every row; none on PostgreSQL, where psycopg
    already returns Python values, several on SQLite.
    """
    connection = connections[using]
    result = []
    for index, field in enumerate(Task._meta.concrete_fields):
        column = field.get_col(Task._meta.db_table)
        converters = connection.ops.get_db_converters(column)
        converters += field.get_db_converters(connection)
        if converters:
            result.append((index, converters, column))
    return result


def _execute_as(owner: User, using: str, sql: str, params: list) -> tuple[list, int]:
    """Run one statement as `owner`; return its rows (if any) and row count.

    The services' statements are written once rather than built and
    compiled by the ORM on every call, which was most of their cost; the
    acting user travels in the same round trip.
    """
    with (
        acting_as(owner, using=using, atomic=False),
        connections[using].cursor() as cursor,
    ):
        cursor.execute(sql, params)
        rows = cursor.fetchall() if cursor.description else []
        return rows, cursor.rowcount


def _fetch_task(owner: User, using: str, sql: str, params: list) -> Task | None:
    """Run `sql` (returning Task's columns) as `owner`; return the task or None."""
    rows, _ = _execute_as(owner, using, sql, params)
    return _row_to_task(using, rows[0]) if rows else None


def _row_to_task(using: str, row) -> Task:
    """Make a Task of a row of Task's columns, as a queryset would."""
    connection = connections[using]
    values = list(row)
    for index, converters, column in _converters(using):
        for converter in converters:
            values[index] = converter(values[index], column, connection)
    return Task.from_db(using, _ATTNAMES, values)


class _OwnerPage:
    """Fetch ``get_tasks(owner, completed=...)[low:high]`` with fixed SQL.

    The ORM spends more time building and compiling this query than
    PostgreSQL spends answering it; the statement is the same one, newest
    first through the composite index, with the acting user in the same
    round trip.
    """

    def __init__(self, owner: User, completed: bool | None) -> None:
        self.owner = owner
        self.completed = completed

    def __call__(self, using: str, low: int, high: int | None) -> list[Task]:
        connection = connections[using]
        qn = connection.ops.quote_name
        columns = ", ".join(qn(field.column) for field in Task._meta.concrete_fields)
        table = qn(Task._meta.db_table)
        sql = f"SELECT {columns} FROM {table} WHERE {qn('owner_id')} = %s"
        params: list[Any] = [self.owner.pk]
        if self.completed is not None:
            sql += f" AND {qn('completed')} = %s"
            params.append(self.completed)
        sql += f" ORDER BY {qn('created_at')} DESC, {qn('id')} DESC"
        if high is not None:
            sql += " LIMIT %s"
            params.append(high - low)
        elif low and connection.ops.no_limit_value() is not None:
            # SQLite takes no OFFSET without a LIMIT.
            sql += f" LIMIT {connection.ops.no_limit_value()}"
        if low:
            sql += " OFFSET %s"
            params.append(low)
        rows, _ = _execute_as(self.owner, using, sql, params)
        return [_row_to_task(using, row) for row in rows]


def _select_sql(using: str) -> str:
    qn = connections[using].ops.quote_name
    meta = Task._meta
    columns = ", ".join(qn(field.column) for field in meta.concrete_fields)
    return (
        f"SELECT {columns} FROM {qn(meta.db_table)} "
        f"WHERE {qn('id')} = %s AND {qn('owner_id')} = %s"
    )


_ATTNAMES = [field.attname for field in Task._meta.concrete_fields]


def _update_returning(
    owner: User, task_id: Any, pk: int, assignments: list[tuple[str, str, Any]]
) -> Task:
    """Run one ``UPDATE ... WHERE id AND owner RETURNING`` and return the task.

    `assignments` are (column, SQL expression with at most one %s, value).
    One statement, so it is atomic by itself and races with nothing; the
    acting user travels with it in the same round trip.
    """
    using = router.db_for_write(Task)
    connection = connections[using]
    qn = connection.ops.quote_name
    meta = Task._meta
    now = timezone.now()
    sets = [f"{qn(column)} = {expression}" for column, expression, _ in assignments]
    params = [value for _, expression, value in assignments if "%s" in expression]
    sets.append(f"{qn('updated_at')} = %s")
    params += [now, pk, owner.pk]
    columns = ", ".join(qn(field.column) for field in meta.concrete_fields)
    sql = (
        f"UPDATE {qn(meta.db_table)} SET {', '.join(sets)} "
        f"WHERE {qn('id')} = %s AND {qn('owner_id')} = %s RETURNING {columns}"
    )
    task = _fetch_task(owner, using, sql, params)
    if task is None:
        raise _not_found(task_id)
    return task


def create_task(owner: User, *, title: str, description: str = "") -> Task:
    """Create and return a task owned by `owner`."""
    if owner.pk is None:
        raise ValueError("The owner must be a saved user.")
    task = Task(owner=owner, title=title, description=description)
    _clean(task)
    with acting_as(owner, atomic=False):
        task.save(force_insert=True)
    return task


def get_tasks(owner: User, *, completed: bool | None = None) -> TaskQuerySet:
    """Return the tasks of `owner`, newest first.

    `completed=True` or `False` keeps only done or open tasks. The result is
    a lazy queryset: slice it for a page (``get_tasks(user)[:50]``).
    """
    if completed is not None and not isinstance(completed, bool):
        raise TypeError(f"completed must be True, False or None, not {completed!r}.")
    conditions = {"owner_id": owner.pk}
    if completed is not None:
        conditions["completed"] = completed
    tasks = Task.objects.newest_first()
    # Evaluated as is, or sliced, the queryset runs fixed SQL (_OwnerPage)
    # and never needs its ORM query, so the filter is deferred the way
    # Django's related managers defer theirs: built only when a chained
    # call (filter, count, values, ...) goes through the ORM.
    tasks._defer_next_filter = True
    tasks = tasks.filter(**conditions)
    tasks._owner = owner
    tasks._fast_fetch = _OwnerPage(owner, completed)
    return tasks


class TaskCounts(NamedTuple):
    open: int
    done: int


def count_tasks(owner: User) -> TaskCounts:
    """Return how many open and done tasks `owner` has.

    One ``count(*) ... GROUP BY completed`` over the owner's entries in the
    composite index: an index-only scan once the table is vacuumed, where
    ``Count("pk")`` would make PostgreSQL check each id for NULL.
    """
    using = router.db_for_read(Task)
    connection = connections[using]
    qn = connection.ops.quote_name
    sql = (
        f"SELECT {qn('completed')}, count(*) FROM {qn(Task._meta.db_table)} "
        f"WHERE {qn('owner_id')} = %s GROUP BY {qn('completed')}"
    )
    rows, _ = _execute_as(owner, using, sql, [owner.pk])
    counts = {bool(completed): count for completed, count in rows}
    return TaskCounts(open=counts.get(False, 0), done=counts.get(True, 0))


def get_task(owner: User, task_id: int) -> Task:
    """Return the task `task_id` of `owner`, or raise ``Task.DoesNotExist``."""
    pk = _parse_task_id(task_id)
    using = router.db_for_read(Task)
    task = _fetch_task(owner, using, _select_sql(using), [pk, owner.pk])
    if task is None:
        raise _not_found(task_id)
    return task


def update_task(owner: User, task_id: int, **changes: Any) -> Task:
    """Change the title, description or completed flag of a task of `owner`.

    Any other field name raises ``TypeError`` and an invalid value raises
    ``ValidationError``, both before anything is sent to the database. The
    change is one ``UPDATE`` of just the given columns, so concurrent updates
    of different fields never undo each other.
    """
    unknown = changes.keys() - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(
            f"update_task() cannot change {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(UPDATABLE_FIELDS))}."
        )
    pk = _parse_task_id(task_id)
    if not changes:
        return get_task(owner, task_id)
    cleaned = _clean_changes(changes)
    assignments = [(name, "%s", value) for name, value in sorted(cleaned.items())]
    return _update_returning(owner, task_id, pk, assignments)


def delete_task(owner: User, task_id: int) -> None:
    """Delete the task `task_id` of `owner`, or raise ``Task.DoesNotExist``."""
    pk = _parse_task_id(task_id)
    using = router.db_for_write(Task)
    if _can_fast_delete(using):
        # Nothing to cascade and no delete signals to send: the one DELETE
        # that QuerySet.delete() would issue, without its BEGIN and COMMIT.
        connection = connections[using]
        qn = connection.ops.quote_name
        sql = (
            f"DELETE FROM {qn(Task._meta.db_table)} "
            f"WHERE {qn('id')} = %s AND {qn('owner_id')} = %s"
        )
        _, deleted = _execute_as(owner, using, sql, [pk, owner.pk])
    else:
        deleted, _ = Task.objects.for_owner(owner).filter(pk=pk).delete()
    if not deleted:
        raise _not_found(task_id)


def _can_fast_delete(using: str) -> bool:
    """Whether deleting a task needs nothing but its own DELETE.

    False as soon as something listens to Task's delete signals or a model
    points at Task, exactly as Django's collector decides.
    """
    return Collector(using=using, origin=None).can_fast_delete(Task)


def toggle_complete(owner: User, task_id: int) -> Task:
    """Flip the completed flag of a task of `owner` and return the task.

    A single ``UPDATE ... SET completed = NOT completed ... RETURNING``, so
    concurrent toggles never lose an update and nothing is read first.
    """
    pk = _parse_task_id(task_id)
    qn = connections[router.db_for_write(Task)].ops.quote_name
    return _update_returning(
        owner, task_id, pk, [("completed", f"NOT {qn('completed')}", None)]
    )
