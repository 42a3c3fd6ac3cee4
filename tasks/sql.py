"""The services' statements that the ORM cannot send in one round trip.

``QuerySet.update()`` returns a row count, not the row, so "change a task
and give it back" would be an UPDATE and then a SELECT; ``QuerySet.delete()``
wraps even a single fast DELETE in BEGIN and COMMIT. On a network where a
round trip costs a millisecond, that is the whole price of a call. These
statements say the same in one round trip, through ``Manager.raw()`` and a
plain cursor: public API only. Each is tested against what the ORM does
(tests/tasks/test_sql.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import connections
from django.utils import timezone

from ownership.scope import acting_as

from .models import Task

if TYPE_CHECKING:
    from accounts.models import User


def _quoted(using: str) -> tuple[Any, str, str]:
    qn = connections[using].ops.quote_name
    columns = ", ".join(qn(field.column) for field in Task._meta.concrete_fields)
    return qn, qn(Task._meta.db_table), columns


def update_returning(
    owner: User, pk: int, changes: dict[str, Any], *, using: str, toggle: bool = False
) -> Task | None:
    """Apply `changes` (field name to value) to task `pk` of `owner`; return it.

    ``toggle=True`` also flips ``completed`` in the database (``NOT
    completed``), so that concurrent toggles never lose an update. Values
    go through each field's own ``get_db_prep_save``, exactly as
    ``QuerySet.update()`` prepares them. ``None`` when no task of `owner`
    has that id.
    """
    connection = connections[using]
    qn, table, columns = _quoted(using)
    sets, params = [], []
    for name, value in changes.items():
        field = Task._meta.get_field(name)
        sets.append(f"{qn(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    if toggle:
        column = qn(Task._meta.get_field("completed").column)
        sets.append(f"{column} = NOT {column}")
    updated_at = Task._meta.get_field("updated_at")
    sets.append(f"{qn(updated_at.column)} = %s")
    params.append(updated_at.get_db_prep_save(timezone.now(), connection))
    sql = (
        f"UPDATE {table} SET {', '.join(sets)} "
        f"WHERE {qn('id')} = %s AND {qn('owner_id')} = %s RETURNING {columns}"
    )
    with acting_as(owner, using=using, atomic=False):
        rows = list(Task.objects.db_manager(using).raw(sql, [*params, pk, owner.pk]))
    return rows[0] if rows else None


def delete_one(owner: User, pk: int, *, using: str) -> bool:
    """Delete task `pk` of `owner` with one DELETE; return whether it existed.

    Only for a task whose deletion needs nothing else (no signal receivers,
    nothing pointing at it): the caller asks Django's collector first.
    """
    qn, table, _columns = _quoted(using)
    sql = f"DELETE FROM {table} WHERE {qn('id')} = %s AND {qn('owner_id')} = %s"
    with (
        acting_as(owner, using=using, atomic=False),
        connections[using].cursor() as cursor,
    ):
        cursor.execute(sql, [pk, owner.pk])
        return cursor.rowcount > 0
