"""Writes on users that need more than Django's defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connections, models, router

from ownership.scope import acting_as, current_scope

if TYPE_CHECKING:
    from .models import User


# The tables whose foreign keys to users the migrations made ON DELETE
# CASCADE in the database (accounts/0002, tasks/0002), besides the user's own
# many-to-many tables.
DATABASE_CASCADES = frozenset({"django_admin_log", "tasks_task"})


def _also_deleted(model) -> list | None:
    """Return the relations to `model` the DELETE must empty itself.

    Those of apps the migrations do not know (DRF's tokens, say), whose
    foreign key cascades in Django only; None when one of them cannot be
    emptied by one more DELETE (a relation that is not CASCADE, or whose
    rows have dependents of their own): Django's delete() must walk it.
    """
    others = [
        relation
        for relation in model._meta.related_objects
        if relation.related_model._meta.db_table not in DATABASE_CASCADES
    ]
    for relation in others:
        if (
            relation.on_delete is not models.CASCADE
            or relation.many_to_many
            or relation.related_model._meta.related_objects
        ):
            return None
    return others


def delete_user(user: User) -> None:
    """Delete `user` and everything that is theirs, in one statement.

    On PostgreSQL every foreign key to the user table says ON DELETE CASCADE
    (migrations accounts/0002 and tasks/0002), so a single ``DELETE`` removes
    the user, their tasks, group and permission links and admin log entries,
    whatever the scope: the cascade is the database's, row-level security
    does not hide rows from it. The rows of another app that refer to users
    with Django's CASCADE only (DRF's tokens) go in the same statement.
    Unlike ``user.delete()`` no ``pre_delete`` or ``post_delete`` signals are
    sent (the project has none); elsewhere (SQLite), and where such an app's
    rows have dependents of their own, this falls back to ``user.delete()``.

    It runs in the staff scope in force (staff who may delete users: the
    admin, or ``staff_scope()`` in a view), or else in `user`'s own: in
    their request, or in code that no user's request runs (a command).
    """
    using = router.db_for_write(type(user), instance=user)
    # The database lets a user's row go in that user's scope, or in the
    # staff scope of staff who may delete users (ownership/guards.py).
    # Inside another user's request acting_as() raises ScopeConflict: a
    # request deletes its own user, or staff delete one in their scope.
    if current_scope(using).staff:
        _delete(user, using)
        return
    with acting_as(user, using=using, atomic=False):
        _delete(user, using)


def _delete(user: User, using: str) -> None:
    connection = connections[using]
    others = _also_deleted(type(user))
    if connection.vendor != "postgresql" or others is None:
        user.delete(using=using)
        return
    quote = connection.ops.quote_name
    # Each other app's rows in the same statement: its foreign key, checked
    # at the end of the statement (or the transaction), finds them gone.
    emptied = [
        f"emptied_{number} AS (DELETE FROM "
        f"{quote(relation.related_model._meta.db_table)} "
        f"WHERE {quote(relation.field.column)} = %s)"
        for number, relation in enumerate(others)
    ]
    table = quote(user._meta.db_table)
    with_clause = f"WITH {', '.join(emptied)} " if emptied else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"{with_clause}DELETE FROM {table} WHERE id = %s",
            [user.pk] * (len(emptied) + 1),
        )
        if cursor.rowcount != 1:
            raise type(user).DoesNotExist(f"User {user.pk!r} does not exist.")
    user.pk = None
