"""Writes on users that need more than Django's defaults."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db import connections, router

if TYPE_CHECKING:
    from .models import User


def delete_user(user: User) -> None:
    """Delete `user` and everything that is theirs, in one statement.

    On PostgreSQL every foreign key to the user table says ON DELETE CASCADE
    (migrations accounts/0002 and tasks/0002), so a single ``DELETE`` removes
    the user, their tasks, group and permission links and admin log entries,
    whatever the scope: the cascade is the database's, row-level security
    does not hide rows from it. Unlike ``user.delete()`` no ``pre_delete`` or
    ``post_delete`` signals are sent (the project has none); elsewhere
    (SQLite) this falls back to ``user.delete()``.
    """
    using = router.db_for_write(type(user), instance=user)
    connection = connections[using]
    if connection.vendor != "postgresql":
        user.delete(using=using)
        return
    table = connection.ops.quote_name(user._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [user.pk])
        if cursor.rowcount != 1:
            raise type(user).DoesNotExist(f"User {user.pk!r} does not exist.")
    user.pk = None
